"""Every error code the API can answer with today, each through the real app and Redis."""
import json
import socket
import time

import pytest
import redis as redis_py

from app.errors import CODES
from conftest import (
    CHANNEL_TOKEN,
    bearer,
    error_of,
    free_port,
    make_app,
    submission,
)
from tasks import keys

# Catalogued codes no route answers with yet; each needs a test here once one does.
NOT_PRODUCED_YET = set()
# Produced and tested below, or in test_auth.py (UNAUTHORIZED, FORBIDDEN).
TESTED = {"INVALID_INPUT", "UNAUTHORIZED", "FORBIDDEN", "TASK_NOT_FOUND", "NOT_FOUND",
          "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "INTERNAL_ERROR",
          "REDIS_UNAVAILABLE", "QUEUE_FULL",
          "RATE_LIMITED",  # test_rate_limit.py
          "TASK_NOT_RETRYABLE",  # test_dead_letters.py
          "TASK_NOT_CANCELLABLE",  # test_cancel.py
          "CHANNEL_NOT_FOUND", "PRIORITY_NOT_FOUND",  # test_pausing.py
          "URL_NOT_ALLOWED", "WEBHOOK_NOT_FOUND", "WEBHOOK_LIMIT",  # test_webhooks.py
          "CSRF_REJECTED",  # test_dashboard.py
          # test_workers.py and test_ws.py:
          "WORKER_OFFLINE", "WORKER_EXISTS", "WORKER_NOT_FOUND", "WEBSOCKET_LIMIT"}


def stored_tasks(redis_client) -> list[str]:
    return redis_client.keys(keys.task("*"))


def post_json(client, body, token=CHANNEL_TOKEN):
    return client.post("/task", json=body, headers=bearer(token))


def data(**changes) -> dict:
    """A valid ``data`` object with some fields changed; a value of None drops the field."""
    fields = {**submission()["data"], **changes}
    return {key: value for key, value in fields.items() if value is not None}


def test_every_catalogued_code_is_tested_or_known_unproduced():
    assert set(CODES) == TESTED | NOT_PRODUCED_YET


def test_valid_submission_is_accepted(client, redis_client):
    """The control for the rejections below: the same body, unchanged, is accepted."""
    response = post_json(client, submission())

    assert response.status_code == 202
    assert stored_tasks(redis_client) == [keys.task(response.get_json()["task_id"])]


@pytest.mark.parametrize("body, field", [
    ({"type": "translation", "data": data()}, "type"),
    ({"data": data()}, "type"),
    ({"type": "sentiment_analysis"}, "data"),
    ({"type": "sentiment_analysis", "data": None}, "data"),
    ({"type": "sentiment_analysis", "data": "Great service!"}, "data"),
    ({"type": "sentiment_analysis", "data": data(text=None)}, "data.text"),
    ({"type": "sentiment_analysis", "data": data(text="")}, "data.text"),
    ({"type": "sentiment_analysis", "data": data(text=" \t\n ")}, "data.text"),
    ({"type": "sentiment_analysis", "data": data(text=42)}, "data.text"),
    ({"type": "sentiment_analysis", "data": data(channel=None)}, "data.channel"),
    ({"type": "sentiment_analysis", "data": data(channel="fax")}, "data.channel"),
    ({"type": "sentiment_analysis", "data": data(priority="urgent")}, "data.priority"),
    ({"type": "sentiment_analysis", "data": data(priority=1)}, "data.priority"),
    ({"type": "sentiment_analysis", "data": data(timeout="abc")}, "data.timeout"),
    ({"type": "sentiment_analysis", "data": data(timeout=-5)}, "data.timeout"),
    ({"type": "sentiment_analysis", "data": data(timeout=0)}, "data.timeout"),
    ({"type": "sentiment_analysis", "data": data(timeout=True)}, "data.timeout"),
    ({"type": "sentiment_analysis", "data": data(customer_id="")}, "data.customer_id"),
    ({"type": "sentiment_analysis", "data": data(mood="happy")}, "data.mood"),
    ({**submission(), "mood": "happy"}, "mood"),
], ids=["unknown type", "missing type", "missing data", "null data", "data not an object",
        "missing text", "empty text", "whitespace text", "text a number", "missing channel",
        "unknown channel", "unknown priority", "priority a number", "timeout a string",
        "timeout negative", "timeout zero", "timeout a bool", "empty customer_id",
        "unknown data field", "unknown top-level field"])
def test_invalid_submission_names_the_failing_field(client, redis_client, body, field):
    error = error_of(post_json(client, body), "INVALID_INPUT")

    assert list(error["details"]) == [field]
    assert stored_tasks(redis_client) == []


def test_unknown_type_message_lists_the_known_types(client, redis_client):
    error = error_of(post_json(client, {"type": "translation", "data": data()}), "INVALID_INPUT")

    assert "sentiment_analysis" in error["details"]["type"]


def test_timeout_above_the_configured_maximum_is_invalid(app, client, redis_client):
    too_long = app.config["MAX_TASK_TIMEOUT_SECONDS"] + 1
    body = {"type": "sentiment_analysis", "data": data(timeout=too_long)}

    error = error_of(post_json(client, body), "INVALID_INPUT")

    assert list(error["details"]) == ["data.timeout"]


def test_text_limit_counts_characters_at_the_default(app, client, redis_client):
    limit = app.config["MAX_TEXT_CHARS"]
    assert limit == 20000

    # Two bytes each in UTF-8: the limit is on characters, not bytes.
    assert post_json(client, submission("é" * limit)).status_code == 202
    error = error_of(post_json(client, submission("é" * (limit + 1))), "INVALID_INPUT")

    assert list(error["details"]) == ["data.text"]
    assert str(limit) in error["details"]["data.text"]


def test_text_limit_follows_the_setting(redis_server, redis_client):
    client = make_app(redis_server.url, MAX_TEXT_CHARS=10).test_client()

    assert post_json(client, submission("x" * 10)).status_code == 202
    error = error_of(post_json(client, submission("x" * 11)), "INVALID_INPUT")

    assert error["details"] == {"data.text": "Text longer than 10 characters."}
    assert len(stored_tasks(redis_client)) == 1


def test_malformed_json_is_invalid_input(client, redis_client):
    response = client.post("/task", data='{"type": "sentiment_analysis", "data": {',
                           content_type="application/json", headers=bearer())

    error = error_of(response, "INVALID_INPUT")

    assert list(error["details"]) == ["body"]
    assert stored_tasks(redis_client) == []


@pytest.mark.parametrize("document", ["[]", '[{"type": "sentiment_analysis"}]', '"hello"',
                                      "null", "42"])
def test_json_that_is_not_an_object_is_invalid_input(client, redis_client, document):
    response = client.post("/task", data=document, content_type="application/json",
                           headers=bearer())

    error = error_of(response, "INVALID_INPUT")

    assert list(error["details"]) == ["body"]
    assert stored_tasks(redis_client) == []


@pytest.mark.parametrize("content_type, shown", [
    ("text/plain", "text/plain"),
    ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
    (None, "(none)"),
])
def test_a_body_that_is_not_json_is_unsupported(client, redis_client, content_type, shown):
    response = client.post("/task", data=json.dumps(submission()), content_type=content_type,
                           headers=bearer())

    error = error_of(response, "UNSUPPORTED_MEDIA_TYPE")

    assert error["details"] == {"content_type": shown}
    assert stored_tasks(redis_client) == []


def test_unknown_route_is_not_found(client):
    error = error_of(client.get("/no-such-route", headers=bearer()), "NOT_FOUND")

    assert error["details"] == {}


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/task/task_x", "DELETE"),
    ("POST", "/task/task_x", "GET"),
    ("GET", "/task", "POST"),
    ("PUT", "/task", "POST"),
])
def test_wrong_method_names_the_allowed_ones(client, method, path, allowed):
    response = client.open(path, method=method, headers=bearer())

    error_of(response, "METHOD_NOT_ALLOWED")
    allow = {item.strip() for item in response.headers["Allow"].split(",")}
    assert allowed in allow
    assert method not in allow


def test_body_over_max_content_length_is_too_large(redis_server, redis_client):
    client = make_app(redis_server.url, MAX_CONTENT_LENGTH=1024).test_client()

    assert post_json(client, submission("x" * 500)).status_code == 202
    error_of(post_json(client, submission("x" * 2000)), "PAYLOAD_TOO_LARGE")

    assert len(stored_tasks(redis_client)) == 1


@pytest.mark.parametrize("task_id", ["task_" + "0" * 32, "task_", "0123456789abcdef", "abc"])
def test_unknown_task_id_is_task_not_found(client, task_id):
    error = error_of(client.get(f"/task/{task_id}", headers=bearer()), "TASK_NOT_FOUND")

    assert error["details"] == {"task_id": task_id}


@pytest.fixture
def unreachable_redis_client():
    """A client of an app whose Redis port has no listener."""
    return make_app(f"redis://127.0.0.1:{free_port()}/0").test_client()


def assert_redis_unavailable(response, seconds: float) -> None:
    error_of(response, "REDIS_UNAVAILABLE")
    assert seconds < 3
    assert int(response.headers["Retry-After"]) >= 1


def test_submission_without_redis_answers_503_quickly(unreachable_redis_client):
    started = time.monotonic()
    response = post_json(unreachable_redis_client, submission())
    seconds = time.monotonic() - started

    assert_redis_unavailable(response, seconds)
    assert "task_id" not in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_reading_a_task_without_redis_is_503_not_404(unreachable_redis_client):
    started = time.monotonic()
    response = unreachable_redis_client.get("/task/task_" + "0" * 32, headers=bearer())

    assert_redis_unavailable(response, time.monotonic() - started)


def test_a_redis_that_never_answers_gives_503_within_bounded_time():
    # Accepts connections (the kernel's backlog) but never replies: only a socket timeout ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = make_app(f"redis://127.0.0.1:{silent.getsockname()[1]}/0").test_client()
        started = time.monotonic()
        response = client.get("/task/task_" + "0" * 32, headers=bearer())

        assert_redis_unavailable(response, time.monotonic() - started)


def test_unexpected_exception_is_internal_error_without_a_traceback(redis_server, redis_client):
    app = make_app(redis_server.url)

    def explode():
        raise RuntimeError("secret detail: db password hunter2")

    app.add_url_rule("/explode", "explode", explode)

    response = app.test_client().get("/explode", headers=bearer())

    error = error_of(response, "INTERNAL_ERROR")
    assert error["details"] == {}
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret detail", "hunter2", "explode"):
        assert leak not in text


def test_a_full_queue_answers_queue_full_with_retry_after(redis_server):
    url = redis_server.database(4)  # no worker consumes it: the backlog stays
    redis_client = redis_py.Redis.from_url(url, decode_responses=True)
    redis_client.flushdb()
    client = make_app(url, QUEUE_CAPACITY=2).test_client()
    for _ in range(2):
        assert client.post("/task", json=submission(), headers=bearer()).status_code == 202

    response = client.post("/task", json=submission(), headers=bearer())

    error = error_of(response, "QUEUE_FULL")
    assert error["details"] == {"waiting": 2, "capacity": 2}
    assert int(response.headers["Retry-After"]) > 0
    assert len(stored_tasks(redis_client)) == 2  # nothing half-accepted


@pytest.mark.parametrize("body, field", [
    (b'{"type": "sentiment_analysis", "data": {"text": "\xff\xfe", "channel": "chat"}}', "body"),
    (b"[" * 100_000 + b"]" * 100_000, "body"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "body"),
    (json.dumps(submission("nul \u0000 inside")).encode(), "data.text"),
    (json.dumps(submission("escape \u001b[31m red")).encode(), "data.text"),
    (b'{"type": "sentiment_analysis", "data": {"text": "lone \\ud800", "channel": "chat"}}',
     "data.text"),
    (json.dumps(submission(customer_id="bell\u0007")).encode(), "data.customer_id"),
])
def test_hostile_bodies_are_invalid_input_never_5xx(client, redis_client, body, field):
    response = client.post("/task", data=body, headers={**bearer(),
                                                        "Content-Type": "application/json"})

    error = error_of(response, "INVALID_INPUT")
    assert field in error["details"]
    assert stored_tasks(redis_client) == []


def test_tabs_and_newlines_are_ordinary_text(client):
    response = client.post("/task", json=submission("Line one\n\tLine two\r\n"),
                           headers=bearer())
    assert response.status_code == 202
