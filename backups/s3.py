"""The S3-compatible store of settings.BACKUP_S3 (AWS, MinIO, Wasabi, R2…), through boto3.

An upload reads the archive as the node makes it (nodes.client backup_stream) and sends it in
multipart parts of BACKUP_S3["part_mb"], two in flight: one part in memory at a time per thread,
never a whole archive on the panel's disk. A failed upload is aborted, so no object appears."""

import functools
import hashlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

MB = 1024 * 1024


class S3NotConfigured(Exception):
    """BACKUP_S3 names no bucket."""


def _config() -> dict:
    config = settings.BACKUP_S3
    if not config.get("bucket"):
        raise S3NotConfigured("S3 backups need HEARTH_BACKUP_S3_BUCKET (and the endpoint and keys).")
    return config


@functools.cache
def _client_for(endpoint, region, access_key, secret_key):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
    )


def client():
    config = _config()
    return _client_for(
        config["endpoint_url"], config["region_name"], config["access_key"], config["secret_key"]
    )


def bucket() -> str:
    return _config()["bucket"]


def key_for(server_id, name: str) -> str:
    return f"{_config()['prefix']}{server_id}/{name}"


class _Reader:
    """A file-like view of an archive's chunks for boto3's upload, counting and hashing what it reads."""

    def __init__(self, chunks, on_bytes=None):
        self._chunks, self._buffer, self._on_bytes = iter(chunks), bytearray(), on_bytes
        self.size, self.digest = 0, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
            self.size += len(chunk)
            self.digest.update(chunk)
            if self._on_bytes:
                self._on_bytes(self.size)
        size = len(self._buffer) if size < 0 else size
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def upload(key: str, chunks, *, on_bytes=None) -> tuple[int, str]:
    """Upload `chunks` as `key`; (size, sha256 hex) of what was sent. The chunks' own error (a failed
    archive) propagates, and boto3 aborts the multipart upload."""
    part = max(5, int(_config()["part_mb"])) * MB
    reader = _Reader(chunks, on_bytes)
    transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=2)
    client().upload_fileobj(reader, bucket(), key, Config=transfer)
    return reader.size, reader.digest.hexdigest()


def chunks_of(key: str, *, chunk_size: int = 4 * MB):
    """The object's bytes, streamed."""
    body = client().get_object(Bucket=bucket(), Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def delete(key: str) -> None:
    """Remove the object. S3 answers success for a missing one; a missing bucket holds none either."""
    try:
        client().delete_object(Bucket=bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


def exists(key: str) -> bool:
    try:
        client().head_object(Bucket=bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def presigned_url(key: str, *, filename: str) -> str:
    return client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket(),
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        },
        ExpiresIn=settings.BACKUP_DOWNLOAD_LINK_SECONDS,
    )
