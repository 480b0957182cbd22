"""The end-to-end tests run the panel's real processes as subprocesses, on this test's database."""

import os

import pytest
from django.db import connection


@pytest.fixture
def process_env(transactional_db):
    """The environment of a process that works on this test's database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
