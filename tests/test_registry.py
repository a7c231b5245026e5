"""The task registry against a real Redis: state changes, idempotency, expiry, events."""
import json

import pytest

from tasks import keys
from tasks.connections import connect
from tasks.registry import TaskRegistry, new_task_id

TTL = 120
MAX_ATTEMPTS = 3


@pytest.fixture
def registry(redis_server, redis_client):
    return TaskRegistry(connect(redis_server.url), ttl_seconds=TTL, event_maxlen=1000,
                        estimate_window_seconds=60, max_attempts=MAX_ATTEMPTS)


def accept(registry, priority="normal", **fields):
    task_id = new_task_id()
    registry.accept(task_id, priority, {"channel": "chat", "text": "I love it", **fields})
    return task_id


def events(redis_client, task_id):
    return [json.loads(fields["event"])["status"]
            for _, fields in redis_client.xrange(keys.EVENTS)
            if json.loads(fields["event"])["task_id"] == task_id]


def metric_total(redis_client, field):
    return sum(float(redis_client.hget(key, field) or 0)
               for key in redis_client.scan_iter(keys.METRICS.replace("%d", "*")))


def test_task_ids_are_prefixed_and_unguessable():
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("task_") and len(i) == 37 for i in ids)


def test_every_task_key_expires(registry, redis_client):
    task_id = accept(registry)
    assert 0 < redis_client.ttl(keys.task(task_id)) <= TTL

    registry.claim([task_id])
    registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    assert 0 < redis_client.ttl(keys.task(task_id)) <= TTL
    metric_keys = list(redis_client.scan_iter(keys.METRICS.replace("%d", "*")))
    assert metric_keys and all(redis_client.ttl(k) > 0 for k in metric_keys)


def test_a_redelivered_message_neither_reruns_nor_recounts_a_completed_task(registry, redis_client):
    task_id = accept(registry)
    [claim] = registry.claim([task_id])
    assert (claim.outcome, claim.text) == ("claimed", "I love it")
    assert registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    [again] = registry.claim([task_id])

    assert again.outcome == "completed" and again.text is None
    assert not registry.complete(task_id, {"sentiment": "negative", "processing_time_ms": 1.0})
    assert json.loads(registry.get(task_id)["result"])["sentiment"] == "positive"
    assert metric_total(redis_client, "completed") == 1
    assert events(redis_client, task_id) == ["queued", "processing", "completed"]


def test_a_task_whose_worker_died_is_claimed_again_with_its_attempt_counted(registry):
    task_id = accept(registry)
    registry.claim([task_id])

    [claim] = registry.claim([task_id])

    assert claim.outcome == "claimed"
    assert registry.get(task_id)["attempts"] == "2"


def test_unknown_and_expired_ids_are_missing(registry):
    [claim] = registry.claim(["task_" + "0" * 32])
    assert claim.outcome == "missing"
    assert registry.get("task_" + "0" * 32) is None
    assert registry.get("not-a-task-id") is None


def test_claiming_takes_the_task_out_of_the_queue_count(registry, redis_client):
    first, second = accept(registry), accept(registry)
    assert redis_client.zcard(keys.queued("normal")) == 2

    registry.claim([first])

    assert redis_client.zrange(keys.queued("normal"), 0, -1) == [second]


def test_a_failed_task_keeps_its_code_and_cannot_complete_later(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id])

    assert registry.fail(task_id, "ANALYSIS_FAILED", "ValueError")
    assert not registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "ANALYSIS_FAILED")
    assert metric_total(redis_client, "failed") == 1


def test_withdrawn_task_leaves_nothing_behind(registry, redis_client):
    task_id = accept(registry)

    registry.withdraw(task_id, "normal")

    assert registry.get(task_id) is None
    assert redis_client.zcard(keys.queued("normal")) == 0


def test_estimate_grows_with_the_tasks_ahead(registry):
    for _ in range(5):
        task_id = accept(registry)
        registry.claim([task_id])
        registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    estimates = []
    for _ in range(3):
        task_id = new_task_id()
        acceptance = registry.accept(task_id, "normal", {"channel": "chat", "text": "x"})
        estimates.append(acceptance.estimated_seconds())

    assert estimates[0] > 0
    assert estimates[0] < estimates[1] < estimates[2]


def test_a_task_whose_worker_keeps_dying_fails_after_max_attempts(registry, redis_client):
    task_id = accept(registry)
    outcomes = [registry.claim([task_id])[0].outcome for _ in range(MAX_ATTEMPTS + 1)]

    assert outcomes == ["claimed"] * MAX_ATTEMPTS + ["failed"]
    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "TOO_MANY_ATTEMPTS")
    assert redis_client.zrange(keys.DEAD, 0, -1) == [task_id]


def test_end_to_end_latency_lands_in_one_histogram_bin(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id])
    registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    bins = {field: value for key in redis_client.scan_iter(keys.METRICS.replace("%d", "*"))
            for field, value in redis_client.hgetall(key).items()
            if field.startswith("latency_bin:")}

    assert len(bins) == 2  # overall and for the channel
    assert sorted(bins.values()) == ["1", "1"]
