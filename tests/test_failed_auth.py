"""Wrong tokens lock their client address out for the rest of the window (real Redis)."""
import time

import pytest
from test_dashboard import login

from app.failed_auth import FailedAuthentications
from conftest import OPERATOR_TOKEN, bearer, error_of, free_port, make_app, submission

WRONG = bearer("not-a-token")


@pytest.fixture
def guarded(redis_server, redis_client):
    return make_app(redis_server.url, AUTH_FAILURE_LIMIT="3/minute").test_client()


def fail(client, times: int = 3, headers: dict = WRONG, **kwargs) -> None:
    for _ in range(times):
        error_of(client.get("/task/task_x", headers=headers, **kwargs), "UNAUTHORIZED")


def test_after_the_limit_even_the_right_token_gets_429_with_retry_after(guarded, redis_client):
    assert guarded.post("/task", json=submission(), headers=bearer()).status_code == 202
    fail(guarded)

    locked = guarded.post("/task", json=submission(), headers=bearer())

    error_of(locked, "RATE_LIMITED")
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    error_of(guarded.get("/task/task_x", headers=WRONG), "RATE_LIMITED")
    [counter] = redis_client.keys("sp:authfail*")
    assert 0 < redis_client.ttl(counter) <= 60


def test_requests_without_a_token_are_neither_counted_nor_refused(guarded):
    for _ in range(5):
        error_of(guarded.get("/task/task_x"), "UNAUTHORIZED")
    assert guarded.post("/task", json=submission(), headers=bearer()).status_code == 202

    fail(guarded)
    assert guarded.get("/health/live").status_code == 200


def test_the_count_is_per_address_and_shared_by_every_app_instance(redis_server, guarded):
    address = {"REMOTE_ADDR": "192.0.2.1"}
    fail(guarded, environ_base=address)
    other_process = make_app(redis_server.url, AUTH_FAILURE_LIMIT="3/minute").test_client()
    # A process learns of the lock from its own first wrong token from the address: until
    # then it serves a right one, which bounds guesses to one more per process.
    error_of(other_process.get("/task/task_x", headers=bearer(), environ_base=address),
             "TASK_NOT_FOUND")
    error_of(other_process.get("/task/task_x", headers=WRONG, environ_base=address),
             "UNAUTHORIZED")

    error_of(other_process.get("/task/task_x", headers=bearer(), environ_base=address),
             "RATE_LIMITED")
    error_of(other_process.get("/task/task_x", headers=bearer(),
                               environ_base={"REMOTE_ADDR": "192.0.2.2"}), "TASK_NOT_FOUND")


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(redis_server, redis_client):
    client = make_app(redis_server.url, AUTH_FAILURE_LIMIT="3/minute",
                      TRUSTED_PROXY_COUNT=1).test_client()
    fail(client, headers=WRONG | {"X-Forwarded-For": "198.51.100.7"})

    error_of(client.get("/task/task_x", headers=bearer() | {"X-Forwarded-For": "198.51.100.7"}),
             "RATE_LIMITED")
    error_of(client.get("/task/task_x", headers=bearer() | {"X-Forwarded-For": "198.51.100.8"}),
             "TASK_NOT_FOUND")


def test_wrong_tokens_in_the_login_form_count_and_lock_the_form_too(guarded):
    for _ in range(3):
        assert login(guarded, "not-a-token").status_code == 401

    locked = login(guarded, OPERATOR_TOKEN)

    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 60
    assert "Too many wrong tokens" in locked.get_data(as_text=True)
    error_of(guarded.get("/workers", headers=bearer(OPERATOR_TOKEN)), "RATE_LIMITED")


def test_the_lock_ends_with_its_window(redis_server, redis_client):
    client = make_app(redis_server.url, AUTH_FAILURE_LIMIT="2/second").test_client()
    fail(client, 2)
    error_of(client.get("/task/task_x", headers=bearer()), "RATE_LIMITED")

    time.sleep(1.1)

    error_of(client.get("/task/task_x", headers=bearer()), "TASK_NOT_FOUND")


def test_off_counts_nothing(redis_server, redis_client):
    client = make_app(redis_server.url, AUTH_FAILURE_LIMIT="off").test_client()
    fail(client, 10)

    error_of(client.get("/task/task_x", headers=bearer()), "TASK_NOT_FOUND")
    assert not redis_client.keys("sp:authfail*")


def test_without_redis_it_neither_counts_nor_refuses():
    counter = FailedAuthentications(f"redis://127.0.0.1:{free_port()}/0", "1/minute")

    for _ in range(3):
        counter.record_failure("192.0.2.1")
        counter.refuse_if_locked_out("192.0.2.1")  # raises APIError if it refused


def test_expired_locks_are_dropped_once_many_are_remembered(redis_server, redis_client,
                                                             monkeypatch):
    monkeypatch.setattr("app.failed_auth.PRUNE_AT", 2)
    counter = FailedAuthentications(redis_server.url, "1/minute")
    counter.locked_until = {"192.0.2.1": time.time() - 1, "192.0.2.2": time.time() + 60}

    counter.record_failure("192.0.2.3")

    assert set(counter.locked_until) == {"192.0.2.2", "192.0.2.3"}
