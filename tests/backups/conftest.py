"""Backup tests run on the real engines (local socket and SSH) and the S3-compatible server the test
environment starts (moto's standalone server, over HTTP); they leave no container behind."""

import pytest
from botocore.exceptions import ClientError

from tests.backups.tree import remove_backup_dirs


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield
    remove_backup_dirs()


@pytest.fixture
def s3_bucket(settings):
    """The env file's bucket, made if missing (moto keeps nothing across restarts), emptied after."""
    from backups import s3

    settings.BACKUP_S3 = {**settings.BACKUP_S3, "part_mb": 5}
    client, bucket = s3.client(), s3.bucket()
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)
    yield bucket
    listed = client.list_objects_v2(Bucket=bucket, Prefix=settings.BACKUP_S3["prefix"]).get("Contents", [])
    for item in listed:
        client.delete_object(Bucket=bucket, Key=item["Key"])
