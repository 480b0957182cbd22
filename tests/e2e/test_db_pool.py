"""The web process under concurrent load: every request answered, PostgreSQL sessions bounded by the pool.

Django's ASGI handler runs each request's sync code in a fresh thread (every request gets its own asgiref
ThreadSensitiveContext, so its own single-thread executor), whichever server speaks HTTP: under daphne and
under uvicorn alike. With persistent connections (CONN_MAX_AGE) every thread opened its own session and
left it behind, until PostgreSQL refused new ones and requests answered 500.
"""

import http.client
import subprocess
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from tests.conftest import tokens_for
from tests.fixtures.browser import free_port, web_argv
from tests.polling import wait_for

APP_NAME = "hearth-pool-test"
POOL_SIZE = 4
CLIENTS = 32
REQUESTS_PER_CLIENT = 25


def sessions_of_the_web_process() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME])
        return cursor.fetchone()[0]


@pytest.fixture
def web(transactional_db, process_env, tmp_path):
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        f"?application_name={APP_NAME}"
    )
    port = free_port()
    env = {
        **process_env,
        "DATABASE_URL": url,
        "DATABASE_POOL_MAX_SIZE": str(POOL_SIZE),
        "DATABASE_POOL_TIMEOUT": "30",
        "HEARTH_RATE_LIMIT_DEFAULT": "100000",
        # the old setting, to show it no longer decides how many sessions there are
        "DATABASE_CONN_MAX_AGE": "60",
    }
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        web_argv(port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def up():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    try:
        wait_for(up, 60, "the web process to answer")
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_concurrent_requests_all_succeed_within_the_pools_sessions(web, admin):
    token = tokens_for(admin)["token"]
    statuses: Counter = Counter()
    peak = {"sessions": 0}
    done = threading.Event()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", web, timeout=60)
        for _ in range(REQUESTS_PER_CLIENT):
            conn.request("GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            statuses[response.status] += 1

    def watch_sessions():
        while not done.is_set():
            peak["sessions"] = max(peak["sessions"], sessions_of_the_web_process())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_sessions)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    try:
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(120)
    finally:
        done.set()
        watcher.join()

    assert statuses == Counter({200: CLIENTS * REQUESTS_PER_CLIENT})
    assert 0 < peak["sessions"] <= POOL_SIZE
    # and afterwards: nothing left behind, the panel still answers
    assert sessions_of_the_web_process() <= POOL_SIZE
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=10)
    conn.request("GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert conn.getresponse().status == 200
