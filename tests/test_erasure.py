"""DELETE /customers/{id}: a customer's tasks, their traces and history go; nothing else."""
import json

import pytest
from test_task_search import owner_of

from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    error_of,
    make_app,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys
from tasks.queues import CHANNELS, KOMBU_PRIORITY_STEPS, priority_lists, queue_for
from tasks.registry import NewTask, new_task_id
from tasks.sentiment import analyse_one

OWNER = owner_of(CHANNEL_TOKEN)


def stored(registry, customer_id, key=None) -> str:
    """A task stored in the registry; its message goes to a list no worker reads."""
    task = NewTask(new_task_id(), "chat", "normal",
                   {"type": "sentiment_analysis", "text": "Where is my refund?",
                    "owner": OWNER, "customer_id": customer_id},
                   idempotency_key=keys.idempotency(OWNER, key) if key else None)
    registry.accept([task], [("nowhere", "message")], [0])
    return task.task_id


def submit(client, customer_id, key=None, **data) -> str:
    headers = {**bearer(), **({"Idempotency-Key": key} if key else {})}
    response = client.post("/task", json=submission(customer_id=customer_id, **data),
                           headers=headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["task_id"]


def operator(client, method, path):
    return client.open(path, method=method, headers=bearer(OPERATOR_TOKEN))


def events_naming(redis_client, customer_id) -> list[dict]:
    events = [json.loads(fields["event"]) for _, fields in redis_client.xrange(keys.EVENTS)]
    return [event for event in events if event.get("customer_id") == customer_id]


@pytest.fixture
def registry(app):
    return app.extensions["registry"]


def test_erasure_removes_every_trace_of_the_customer_and_nothing_else(client, registry,
                                                                      redis_client):
    # Messages go where no worker reads: each task stays in the state the test puts it in.
    queued = stored(registry, "CUST/ERASE", key="retry-me-1")
    processing, completed, failed, cancelled = (stored(registry, "CUST/ERASE")
                                                for _ in range(4))
    registry.claim([processing, completed, failed], "test-worker")
    registry.complete({completed: analyse_one("Where is my refund?")})
    registry.fail(failed, "ANALYSIS_FAILED", "for the test")
    registry.cancel(cancelled)
    erased_too = stored(registry, "CUST/ERASE", key="batch-1#0")
    kept = [stored(registry, "KEEP", key="keep-1"), stored(registry, "KEEP")]
    registry.claim(kept[:1], "test-worker")
    registry.complete({kept[0]: analyse_one("Thanks, all sorted!")})
    # Completions wrote each customer's history (GET /customers/{id}/sentiment).
    assert redis_client.exists(keys.customer_history("CUST/ERASE"),
                               keys.customer_history("KEEP")) == 2
    erased = [queued, processing, completed, failed, cancelled, erased_too]
    redis_client.lpush(keys.task_deliveries(completed), '{"outcome": "delivered"}')

    response = operator(client, "DELETE", "/customers/CUST%2FERASE")

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"customer_id": "CUST/ERASE", "erased": {
        "tasks": 6, "tasks_by_status": {"queued": 2, "processing": 1, "completed": 1,
                                        "failed": 1, "cancelled": 1},
        "idempotency_keys": 2, "history": 1, "events": 6 + 3 + 3}}  # one per state change
    for task_id in erased:
        error_of(operator(client, "GET", f"/task/{task_id}"), "TASK_NOT_FOUND")
    listed = operator(client, "GET", "/tasks?limit=500").get_json()["tasks"]
    assert sorted(t["task_id"] for t in listed) == sorted(kept)
    assert operator(client, "GET", "/tasks?customer_id=CUST%2FERASE").get_json() == {
        "tasks": [], "next_cursor": None}
    assert operator(client, "GET", "/tasks/failed").get_json()["tasks"] == []
    assert events_naming(redis_client, "CUST/ERASE") == []
    # Nothing of the customer is left in Redis: no key, no member of a set, no event.
    for key in redis_client.scan_iter():
        kind = redis_client.type(key)
        if kind == "zset":
            assert not set(redis_client.zrange(key, 0, -1)) & set(erased), key
        assert "CUST/ERASE" not in key and not any(i in key for i in erased), key
    assert redis_client.get(keys.idempotency(OWNER, "retry-me-1")) is None
    # The other customer is untouched.
    assert operator(client, "GET", f"/task/{kept[0]}").get_json()["status"] == "completed"
    assert operator(client, "GET", f"/task/{kept[1]}").get_json()["status"] == "queued"
    assert [m["task_id"] for m in operator(client, "GET", "/customers/KEEP/sentiment")
            .get_json()["messages"]] == [kept[0]]
    assert not redis_client.exists(keys.customer_history("CUST/ERASE"))
    assert len(events_naming(redis_client, "KEEP")) == 4  # 2 queued, processing, completed
    assert redis_client.get(keys.idempotency(OWNER, "keep-1")) == kept[0]


def test_erasing_an_unknown_customer_answers_zeros(client):
    response = operator(client, "DELETE", "/customers/NOBODY")

    assert response.status_code == 200
    assert response.get_json()["erased"] == {"tasks": 0, "tasks_by_status": {},
                                             "idempotency_keys": 0, "history": 0, "events": 0}


def test_only_an_operator_may_erase(client, registry):
    stored(registry, "CUST1")

    error_of(client.delete("/customers/CUST1", headers=bearer()), "FORBIDDEN")
    assert operator(client, "GET", "/tasks?customer_id=CUST1").get_json()["tasks"] != []


def test_a_bad_customer_id_is_invalid_input(client):
    error = error_of(operator(client, "DELETE", "/customers/" + "x" * 129), "INVALID_INPUT")
    assert "customer_id" in error["details"]


def test_a_task_erased_while_processing_is_not_stored_again(client, registry, redis_client):
    task_id = stored(registry, "CUST-BUSY")
    [claim] = registry.claim([task_id], "test-worker")
    assert claim.outcome == "claimed"

    operator(client, "DELETE", "/customers/CUST-BUSY")

    # The worker that held it finishes: its result, failure or release writes nothing.
    assert registry.complete({task_id: {"sentiment": "positive", "confidence": 1.0}}) == 0
    assert registry.fail(task_id, "TASK_TIMEOUT", "late") is False
    assert registry.release({task_id: ("chat", "message")}) == []
    assert not redis_client.exists(keys.task(task_id))
    assert redis_client.zscore(keys.PROCESSING, task_id) is None


def test_many_tasks_are_erased_in_chunks(client, registry, redis_client):
    for _ in range(3):
        body = {"tasks": [submission(f"Message {i}", customer_id="BIG") for i in range(400)]}
        assert client.post("/tasks", json=body, headers=bearer()).status_code == 202

    erased = operator(client, "DELETE", "/customers/BIG").get_json()["erased"]

    assert erased["tasks"] == 1200
    assert redis_client.zcard(keys.TASK_INDEX) == 0
    assert not redis_client.exists(keys.customer_tasks("BIG"))


def test_a_queued_task_of_an_erased_customer_is_never_run(private_redis, private_store,
                                                         tmp_path):
    """Its Celery message stays queued; the worker that takes it finds nothing to do."""
    app = make_app(private_redis.url)
    client = app.test_client()
    erased = submit(client, "CUST-GONE")
    kept = submit(client, "CUST-STAYS")
    lists = [name for channel in CHANNELS
             for name in priority_lists(queue_for(channel), KOMBU_PRIORITY_STEPS).values()]
    assert sum(private_store.llen(name) for name in lists) >= 1  # messages wait: no worker

    operator(client, "DELETE", "/customers/CUST-GONE")
    after_erasure = private_store.xrevrange(keys.EVENTS, count=1)[0][0]
    with running_worker(private_redis.url, tmp_path):
        done = wait_until(lambda: _finished(client, kept), 60, message="the kept task")
        wait_until(lambda: sum(private_store.llen(name) for name in lists) == 0, 30,
                   message="the queues to drain")

    assert done["status"] == "completed"
    error_of(operator(client, "GET", f"/task/{erased}"), "TASK_NOT_FOUND")
    assert not private_store.exists(keys.task(erased))
    later = [json.loads(fields["event"])
             for _, fields in private_store.xrange(keys.EVENTS, f"({after_erasure}")]
    assert {event["task_id"] for event in later} == {kept}


def _finished(client, task_id):
    task = operator(client, "GET", f"/task/{task_id}").get_json()
    return task if task["status"] in ("completed", "failed") else None


def test_any_customer_id_reaches_validation_rather_than_routing(client):
    headers = bearer(OPERATOR_TOKEN)
    # A line break is allowed in a customer id (as in any text field); \x01 is not.
    assert client.delete("/customers/A%0AB", headers=headers).status_code == 200
    response = client.delete("/customers/A%01B", headers=headers)
    assert "customer_id" in error_of(response, "INVALID_INPUT")["details"]
