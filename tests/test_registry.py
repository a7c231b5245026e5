"""The task registry against a real Redis: state changes, idempotency, expiry, events."""
import json

import pytest

from tasks import keys
from tasks.celery_app import make_celery
from tasks.connections import connect
from tasks.registry import QueueFull, TaskRegistry, new_task_id
from workers.reaper import sweep

TTL = 120
MAX_ATTEMPTS = 3
WORKER = "test-worker@host"


@pytest.fixture
def registry(redis_server, redis_client):
    return TaskRegistry(connect(redis_server.url), ttl_seconds=TTL, event_maxlen=1000,
                        estimate_window_seconds=60, max_attempts=MAX_ATTEMPTS)


@pytest.fixture(scope="module")
def celery(redis_server):
    return make_celery(redis_server.url)


def accept(registry, priority="normal", **options):
    task_id = new_task_id()
    registry.accept(task_id, priority, {"channel": "chat", "text": "I love it"},
                    ("chat-list", "message of " + task_id), **options)
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

    registry.claim([task_id], WORKER)
    registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    assert 0 < redis_client.ttl(keys.task(task_id)) <= TTL
    metric_keys = list(redis_client.scan_iter(keys.METRICS.replace("%d", "*")))
    assert metric_keys and all(redis_client.ttl(k) > 0 for k in metric_keys)


def test_a_redelivered_message_neither_reruns_nor_recounts_a_completed_task(registry, redis_client):
    task_id = accept(registry)
    [claim] = registry.claim([task_id], WORKER)
    assert (claim.outcome, claim.text) == ("claimed", "I love it")
    assert registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    [again] = registry.claim([task_id], WORKER)

    assert again.outcome == "completed" and again.text is None
    assert not registry.complete(task_id, {"sentiment": "negative", "processing_time_ms": 1.0})
    assert json.loads(registry.get(task_id)["result"])["sentiment"] == "positive"
    assert metric_total(redis_client, "completed") == 1
    assert events(redis_client, task_id) == ["queued", "processing", "completed"]


def test_a_task_whose_worker_died_is_claimed_again_with_its_attempt_counted(registry):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)

    [claim] = registry.claim([task_id], WORKER)

    assert claim.outcome == "claimed"
    assert registry.get(task_id)["attempts"] == "2"


def test_unknown_and_expired_ids_are_missing(registry):
    [claim] = registry.claim(["task_" + "0" * 32], WORKER)
    assert claim.outcome == "missing"
    assert registry.get("task_" + "0" * 32) is None
    assert registry.get("not-a-task-id") is None


def test_claiming_takes_the_task_out_of_the_queue_count(registry, redis_client):
    first, second = accept(registry), accept(registry)
    assert redis_client.zcard(keys.queued("normal")) == 2

    registry.claim([first], WORKER)

    assert redis_client.zrange(keys.queued("normal"), 0, -1) == [second]


def test_a_failed_task_keeps_its_code_and_cannot_complete_later(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)

    assert registry.fail(task_id, "ANALYSIS_FAILED", "ValueError")
    assert not registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "ANALYSIS_FAILED")
    assert metric_total(redis_client, "failed") == 1


def test_estimate_grows_with_the_tasks_ahead(registry):
    for _ in range(5):
        task_id = accept(registry)
        registry.claim([task_id], WORKER)
        registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    estimates = []
    for _ in range(3):
        acceptance = registry.accept(new_task_id(), "normal", {"channel": "chat", "text": "x"},
                                     ("chat", "message"))
        estimates.append(acceptance.estimated_seconds())

    assert estimates[0] > 0
    assert estimates[0] < estimates[1] < estimates[2]


def test_a_task_whose_worker_keeps_dying_fails_after_max_attempts(registry, redis_client):
    task_id = accept(registry)
    outcomes = [registry.claim([task_id], WORKER)[0].outcome for _ in range(MAX_ATTEMPTS + 1)]

    assert outcomes == ["claimed"] * MAX_ATTEMPTS + ["failed"]
    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "TOO_MANY_ATTEMPTS")
    assert redis_client.zrange(keys.DEAD, 0, -1) == [task_id]


def test_end_to_end_latency_lands_in_one_histogram_bin(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)
    registry.complete(task_id, {"sentiment": "positive", "processing_time_ms": 1.0})

    bins = {field: value for key in redis_client.scan_iter(keys.METRICS.replace("%d", "*"))
            for field, value in redis_client.hgetall(key).items()
            if field.startswith("latency_bin:")}

    assert len(bins) == 2  # overall and for the channel
    assert sorted(bins.values()) == ["1", "1"]


def test_accepting_stores_the_task_and_enqueues_its_message_together(registry, redis_client):
    task_id = accept(registry)

    assert registry.get(task_id)["status"] == "queued"
    assert redis_client.lrange("chat-list", 0, -1) == ["message of " + task_id]


def test_the_same_idempotency_key_returns_the_first_task(registry, redis_client):
    key = keys.idempotency("owner", "order-17")
    first = registry.accept(new_task_id(), "normal", {"channel": "chat", "text": "a"},
                            ("chat-list", "one"), idempotency_key=key)
    second = registry.accept(new_task_id(), "normal", {"channel": "chat", "text": "a"},
                             ("chat-list", "two"), idempotency_key=key)

    assert (second.task_id, second.replayed) == (first.task_id, True)
    assert redis_client.lrange("chat-list", 0, -1) == ["one"]
    assert 0 < redis_client.ttl(key) <= 86400


def test_a_full_queue_stores_nothing(registry, redis_client):
    accept(registry, capacity=2)
    accept(registry, capacity=2)

    with pytest.raises(QueueFull) as full:
        accept(registry, capacity=2)

    assert full.value.waiting == 2
    assert redis_client.llen("chat-list") == 2
    assert len(list(redis_client.scan_iter(keys.TASK % "*"))) == 2


def test_the_sweep_requeues_tasks_whose_worker_stopped_answering(registry, celery,
                                                                  redis_client):
    stale, fresh = accept(registry), accept(registry)
    registry.claim([stale], WORKER)
    redis_client.zadd(keys.PROCESSING, {stale: 1.0})  # as if it started long ago
    redis_client.hset(keys.task(stale), "started_at", "1.0")
    registry.claim([fresh], WORKER)

    requeued = sweep(registry, celery, requeue_after=30, holder="test")

    assert requeued == [stale]
    assert registry.get(stale)["status"] == "queued"
    assert registry.get(fresh)["status"] == "processing"
    assert redis_client.zrange(keys.PROCESSING, 0, -1) == [fresh]
    [message] = redis_client.lrange("chat\x06\x163", 0, -1)
    assert json.loads(message)["headers"]["argsrepr"] == repr([[stale]])
    [claim] = registry.claim([stale], WORKER)
    assert claim.outcome == "claimed" and registry.get(stale)["attempts"] == "2"
