"""X-Request-ID on every answer, and the request id carried by the tasks a request submits."""
import io
import json
import logging
import re
import threading

import pytest

import logconfig
from app.request_ids import accepted_or_new
from conftest import (
    OPERATOR_TOKEN,
    bearer,
    error_of,
    free_port,
    make_app,
    store_task,
    submission,
)
from tasks import keys
from tasks.registry import TaskRegistry
from tasks.submission import new_task

GENERATED = re.compile(r"[0-9a-f]{32}")


def request_id_of(response) -> str:
    request_id = response.headers.get("X-Request-ID")
    assert request_id, dict(response.headers)
    return request_id


def test_a_success_carries_a_generated_id(client):
    first = client.get("/health/live")
    second = client.get("/health/live")
    assert first.status_code == 200
    assert GENERATED.fullmatch(request_id_of(first))
    assert request_id_of(first) != request_id_of(second)


def test_a_sane_incoming_id_is_echoed(client):
    for incoming in ("test-123", "0f8fad5b-d9cb-469f-a165-70867728950e",
                     "Root=1-5759e988-bd862e3fe1be46a994272793", "a" * 128, "req_1.2:3/4+5@x"):
        response = client.get("/health", headers={**bearer(), "X-Request-ID": incoming})
        assert response.status_code == 200
        assert request_id_of(response) == incoming


@pytest.mark.parametrize("incoming", ["", "a" * 129, "two words", "semi;colon", "quo\"te",
                                      "tab\there", "<script>", "naïve"])
def test_an_insane_incoming_id_is_replaced(client, incoming):
    response = client.get("/health/live", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(request_id_of(response))
    assert accepted_or_new(incoming) != incoming


def test_the_error_envelope_carries_it(client):
    response = client.get("/health", headers={"X-Request-ID": "err-1"})
    error_of(response, "UNAUTHORIZED")
    assert request_id_of(response) == "err-1"
    response = client.post("/task", json={"type": "sentiment_analysis"}, headers=bearer())
    error_of(response, "INVALID_INPUT")
    assert GENERATED.fullmatch(request_id_of(response))


def test_flasks_own_404_and_405_carry_it(client):
    missing = client.get("/no/such/route", headers={**bearer(), "X-Request-ID": "nf-1"})
    error_of(missing, "NOT_FOUND")
    assert request_id_of(missing) == "nf-1"
    wrong_method = client.put("/health/live")
    error_of(wrong_method, "METHOD_NOT_ALLOWED")
    assert GENERATED.fullmatch(request_id_of(wrong_method))


def test_a_429_carries_it(redis_server, redis_client):
    limited = make_app(redis_server.url, RATE_LIMIT="2/minute").test_client()
    answers = [limited.get("/health", headers={**bearer(), "X-Request-ID": f"rl-{n}"})
               for n in range(3)]
    error_of(answers[-1], "RATE_LIMITED")
    assert [request_id_of(answer) for answer in answers] == ["rl-0", "rl-1", "rl-2"]


def test_a_refused_websocket_handshake_carries_it(client):
    handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    forbidden = client.get("/workers/updates",
                           headers={**handshake, **bearer(), "X-Request-ID": "ws-1"})
    error_of(forbidden, "FORBIDDEN")
    assert request_id_of(forbidden) == "ws-1"
    unauthorized = client.get("/tasks/updates", headers=handshake)
    error_of(unauthorized, "UNAUTHORIZED")
    assert GENERATED.fullmatch(request_id_of(unauthorized))


def test_a_submitted_task_keeps_its_request_id(client, redis_client):
    response = client.post("/task", json=submission(), headers={**bearer(),
                                                                "X-Request-ID": "sub-1"})
    assert response.status_code == 202
    assert request_id_of(response) == "sub-1"
    task_id = response.get_json()["task_id"]
    assert redis_client.hget(keys.task(task_id), "request_id") == "sub-1"
    shown = client.get(f"/task/{task_id}", headers={**bearer(), "X-Request-ID": "read-1"})
    assert shown.get_json()["request_id"] == "sub-1"  # the submission's, not the reader's
    assert request_id_of(shown) == "read-1"
    events = [json.loads(fields["event"]) for _, fields in redis_client.xrange(keys.EVENTS)]
    queued = [event for event in events if event["task_id"] == task_id]
    assert queued and queued[0]["request_id"] == "sub-1"


def test_without_an_incoming_id_the_task_keeps_the_generated_one(client, redis_client):
    response = client.post("/task", json=submission(), headers=bearer())
    task_id = response.get_json()["task_id"]
    assert redis_client.hget(keys.task(task_id), "request_id") == request_id_of(response)


def test_every_task_of_a_batch_shares_the_batchs_id(client, redis_client):
    response = client.post("/tasks", json={"tasks": [submission("one"), submission("two")]},
                           headers={**bearer(), "X-Request-ID": "batch-1"})
    assert response.status_code == 202
    task_ids = [item["task_id"] for item in response.get_json()["tasks"]]
    assert [redis_client.hget(keys.task(t), "request_id") for t in task_ids] == ["batch-1"] * 2


def test_grouped_submissions_each_keep_their_own_requests_id(redis_server, redis_client):
    # A long window so that the concurrent requests are stored together.
    api = make_app(redis_server.url, GROUP_COMMIT_WINDOW_MS=200, RATE_LIMIT="off")
    answers = {}

    def submit(n: int) -> None:
        answers[n] = api.test_client().post(
            "/task", json=submission(f"text {n}"), headers={**bearer(), "X-Request-ID": f"g-{n}"})

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    created = {redis_client.hget(keys.task(answer.get_json()["task_id"]), "created_at")
               for answer in answers.values()}
    assert len(created) < len(answers)  # some were stored by one script run: grouped
    for n, answer in answers.items():
        assert request_id_of(answer) == f"g-{n}"
        task_id = answer.get_json()["task_id"]
        assert redis_client.hget(keys.task(task_id), "request_id") == f"g-{n}"


def test_one_message_of_several_requests_claims_each_tasks_own_id(app, redis_client):
    registry: TaskRegistry = app.extensions["registry"]
    tasks = [new_task("sentiment_analysis", {"text": f"text {n}", "channel": "email",
                                             "priority": "low"}, "owner", request_id=f"r-{n}")
             for n in range(3)]
    # One message for the three, on a list no worker reads: the session's worker would
    # otherwise claim them first.
    outcomes, _ = registry.accept(tasks, [("nowhere", "one message of three")], [0, 0, 0])
    assert all(outcome.position for outcome in outcomes)
    claims = registry.claim([task.task_id for task in tasks], "test-worker")
    assert [(c.outcome, c.request_id) for c in claims] == [
        ("claimed", "r-0"), ("claimed", "r-1"), ("claimed", "r-2")]


def test_a_task_stored_without_a_request_id_claims_none(app, redis_client):
    registry: TaskRegistry = app.extensions["registry"]
    outcome = store_task(registry)
    [claim] = registry.claim([outcome.task_id], "test-worker")
    assert claim.outcome == "claimed" and claim.request_id is None
    shown = app.test_client().get(f"/task/{outcome.task_id}", headers=bearer(OPERATOR_TOKEN))
    assert shown.get_json()["request_id"] is None


def test_a_log_line_written_during_a_request_carries_its_id(redis_server):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logconfig.formatter("json"))
    errors_logger = logging.getLogger("app.errors")
    errors_logger.addHandler(handler)
    try:  # a Redis that is not there: the error handler logs the outage
        unreachable = make_app(f"redis://127.0.0.1:{free_port()}/0", RATE_LIMIT="off")
        response = unreachable.test_client().post(
            "/task", json=submission(), headers={**bearer(), "X-Request-ID": "outage-1"})
    finally:
        errors_logger.removeHandler(handler)
    error_of(response, "REDIS_UNAVAILABLE")
    assert request_id_of(response) == "outage-1"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records and all(record["request_id"] == "outage-1" for record in records)
