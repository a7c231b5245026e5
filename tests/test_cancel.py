"""DELETE /task/{id}: a task still waiting can be cancelled, and then no worker runs it."""
import pytest

from app.auth import authenticate, known_digests
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    bearer,
    error_of,
    running_worker,
    store_task,
    wait_until,
)
from tasks import keys
from tasks.messages import analyse_message


@pytest.fixture
def registry(app):
    return app.extensions["registry"]


def test_a_waiting_task_is_cancelled(client, registry, redis_client):
    task_id = store_task(registry, owner="x").task_id

    response = client.delete(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN))

    assert response.status_code == 200
    assert response.get_json() == {"task_id": task_id, "status": "cancelled"}
    task = client.get(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN)).get_json()
    assert task["status"] == "cancelled" and task["finished_at"]
    assert redis_client.zcard(keys.queued("chat", "normal")) == 0


def test_a_cancelled_task_is_not_run_when_its_message_arrives(private_redis, private_store,
                                                               tmp_path):
    from conftest import make_app
    app = make_app(private_redis.url)
    registry, client = app.extensions["registry"], app.test_client()
    task_id = store_task(registry).task_id
    key, message = analyse_message(app.extensions["celery"], [task_id], "chat", "normal")
    client.delete(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN))
    private_store.lpush(key, message)  # the message is still on its way to a worker

    with running_worker(private_redis.url, tmp_path):
        wait_until(lambda: private_store.llen(key) == 0, 30, message="the message taken")
        wait_until(lambda: "processing" not in _statuses(private_store, task_id) or None, 2,
                   message="the event stream")

    assert registry.get(task_id)["status"] == "cancelled"
    assert "processing" not in _statuses(private_store, task_id)


def _statuses(store, task_id):
    import json
    return [json.loads(f["event"]).get("status") for _, f in store.xrange(keys.EVENTS)
            if json.loads(f["event"])["task_id"] == task_id]


@pytest.mark.parametrize("status", ["processing", "completed", "failed", "cancelled"])
def test_only_a_waiting_task_can_be_cancelled(client, registry, status):
    task_id = store_task(registry).task_id
    if status != "cancelled":
        registry.claim([task_id], "test-worker")
    if status == "completed":
        registry.complete({task_id: {"sentiment": "neutral", "processing_time_ms": 1.0}})
    elif status == "failed":
        registry.fail(task_id, "ANALYSIS_FAILED", "for the test")
    elif status == "cancelled":
        registry.cancel(task_id)

    error = error_of(client.delete(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN)),
                     "TASK_NOT_CANCELLABLE")
    assert error["details"]["status"] == status


def test_a_channel_token_cancels_only_its_own_tasks(client, registry):
    owner = authenticate(f"Bearer {CHANNEL_TOKEN}", known_digests([CHANNEL_TOKEN], [])).id
    task_id = store_task(registry, owner=owner).task_id

    error_of(client.delete(f"/task/{task_id}", headers=bearer(OTHER_CHANNEL_TOKEN)),
             "TASK_NOT_FOUND")
    assert client.delete(f"/task/{task_id}", headers=bearer(CHANNEL_TOKEN)).status_code == 200
