"""The task registry against a real Redis: state changes, idempotency, expiry, events."""
import json
import time

import pytest
import redis as redis_py

from conftest import store_task
from tasks import keys
from tasks.celery_app import make_celery
from tasks.connections import connect
from tasks.messages import analyse_message
from tasks.registry import NewTask, Refusal, TaskRegistry, new_task_id
from workers.reaper import sweep

TTL = 120
MAX_ATTEMPTS = 3
WORKER = "test-worker@host"


DATABASE = 6  # no worker consumes it: what the registry enqueues stays to be read


@pytest.fixture
def redis_client(redis_server):
    client = redis_py.Redis.from_url(redis_server.database(DATABASE), decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def registry(redis_server, redis_client):
    return TaskRegistry(connect(redis_server.database(DATABASE)), ttl_seconds=TTL,
                        event_maxlen=1000, estimate_window_seconds=60,
                        max_attempts=MAX_ATTEMPTS)


@pytest.fixture(scope="module")
def celery(redis_server):
    return make_celery(redis_server.database(DATABASE))


def accept(registry, priority="normal", queue_key="chat-list", **options):
    return store_task(registry, priority=priority, text="I love it", queue_key=queue_key,
                      **options).task_id


def complete(registry, task_id, sentiment="positive"):
    return registry.complete({task_id: {"sentiment": sentiment, "processing_time_ms": 1.0}})


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
    complete(registry, task_id)

    assert 0 < redis_client.ttl(keys.task(task_id)) <= TTL
    metric_keys = list(redis_client.scan_iter(keys.METRICS.replace("%d", "*")))
    assert metric_keys and all(redis_client.ttl(k) > 0 for k in metric_keys)


def test_a_redelivered_message_neither_reruns_nor_recounts_a_completed_task(registry, redis_client):
    task_id = accept(registry)
    [claim] = registry.claim([task_id], WORKER)
    assert (claim.outcome, claim.text) == ("claimed", "I love it")
    assert complete(registry, task_id)

    [again] = registry.claim([task_id], WORKER)

    assert again.outcome == "completed" and again.text is None
    assert not complete(registry, task_id, "negative")
    assert json.loads(registry.get(task_id)["result"])["sentiment"] == "positive"
    assert metric_total(redis_client, "completed") == 1
    assert events(redis_client, task_id) == ["queued", "processing", "completed"]


def started_long_ago(redis_client, task_id):
    """As if the task's worker had claimed it an hour ago and then died."""
    redis_client.hset(keys.task(task_id), "started_at", str(time.time() - 3600))


def test_a_duplicate_message_finds_a_running_task_busy(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], "first-worker")

    [duplicate] = registry.claim([task_id], "second-worker")

    assert duplicate.outcome == "busy"
    task = registry.get(task_id)
    assert (task["attempts"], task["worker"]) == ("1", "first-worker")
    assert complete(registry, task_id) == 1  # the first claim still finishes it


def test_a_task_whose_worker_died_is_claimed_again_with_its_attempt_counted(registry,
                                                                             redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)
    started_long_ago(redis_client, task_id)

    [claim] = registry.claim([task_id], WORKER)

    assert (claim.outcome, claim.attempt) == ("claimed", 2)


def test_a_released_task_gets_its_attempt_back(registry, celery, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)

    released = registry.release({task_id: analyse_message(celery, [task_id], "chat", "normal")})

    assert released == [task_id]
    task = registry.get(task_id)
    assert (task["status"], task["attempts"]) == ("queued", "0")


def test_unknown_and_expired_ids_are_missing(registry):
    [claim] = registry.claim(["task_" + "0" * 32], WORKER)
    assert claim.outcome == "missing"
    assert registry.get("task_" + "0" * 32) is None
    assert registry.get("not-a-task-id") is None


def test_claiming_takes_the_task_out_of_the_queue_count(registry, redis_client):
    first, second = accept(registry), accept(registry)
    assert redis_client.zcard(keys.queued("chat", "normal")) == 2

    registry.claim([first], WORKER)

    assert redis_client.zrange(keys.queued("chat", "normal"), 0, -1) == [second]


def test_a_failed_task_keeps_its_code_and_cannot_complete_later(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)

    assert registry.fail(task_id, "ANALYSIS_FAILED", "ValueError")
    assert not complete(registry, task_id)

    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "ANALYSIS_FAILED")
    assert metric_total(redis_client, "failed") == 1


def test_estimate_grows_with_the_tasks_ahead(registry):
    for _ in range(5):
        task_id = accept(registry)
        registry.claim([task_id], WORKER)
        complete(registry, task_id)

    tasks = [NewTask(new_task_id(), "chat", "normal", {"text": "x"}) for _ in range(3)]
    outcomes, recent = registry.accept(tasks, [("nowhere", "message")], [0, 0, 0])
    estimates = [recent.estimated_seconds(outcome.position) for outcome in outcomes]

    assert estimates[0] > 0
    assert estimates[0] < estimates[1] < estimates[2]


def test_a_task_whose_worker_keeps_dying_fails_after_max_attempts(registry, redis_client):
    task_id = accept(registry)
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 1):
        outcomes.append(registry.claim([task_id], WORKER)[0].outcome)
        started_long_ago(redis_client, task_id)

    assert outcomes == ["claimed"] * MAX_ATTEMPTS + ["failed"]
    task = registry.get(task_id)
    assert (task["status"], task["error_code"]) == ("failed", "TOO_MANY_ATTEMPTS")
    assert redis_client.zrange(keys.DEAD, 0, -1) == [task_id]


def test_end_to_end_latency_lands_in_one_histogram_bin(registry, redis_client):
    task_id = accept(registry)
    registry.claim([task_id], WORKER)
    complete(registry, task_id)

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
    first = store_task(registry, queue_key="chat-list", message="one", idempotency_key=key)
    second = store_task(registry, queue_key="chat-list", message="two", idempotency_key=key)

    assert (second.task_id, second.replayed) == (first.task_id, True)
    assert redis_client.lrange("chat-list", 0, -1) == ["one"]
    assert 0 < redis_client.ttl(key) <= 86400


def test_a_full_queue_stores_nothing(registry, redis_client):
    accept(registry, capacity=2)
    accept(registry, capacity=2)

    refusal = store_task(registry, queue_key="chat-list", capacity=2)

    assert refusal == Refusal(waiting=2)
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


def backdate(redis_client, task_id, seconds=3600.0):
    """Make a waiting task look accepted long ago."""
    redis_client.zadd(keys.queued("chat", "normal"), {task_id: seconds})
    redis_client.hset(keys.task(task_id), "created_at", str(seconds))


def test_the_sweep_requeues_a_task_whose_message_was_lost(registry, celery, redis_client):
    lost, behind = accept(registry, queue_key="elsewhere"), accept(registry)
    backdate(redis_client, lost, 100.0)
    backdate(redis_client, behind, 200.0)
    registry.claim([behind], WORKER)  # the list moved past the lost one

    requeued = sweep(registry, celery, requeue_after=30, holder="test")

    assert requeued == [lost]
    assert registry.get(lost)["status"] == "queued"
    [message] = redis_client.lrange("chat\x06\x163", 0, -1)
    assert json.loads(message)["headers"]["argsrepr"] == repr([[lost]])


def test_the_sweep_leaves_tasks_waiting_their_turn(registry, celery, redis_client):
    waiting = [accept(registry, queue_key="chat\x06\x163") for _ in range(3)]
    for task_id in waiting:
        backdate(redis_client, task_id)

    assert sweep(registry, celery, requeue_after=30, holder="test") == []
    assert redis_client.llen("chat\x06\x163") == 3


def test_a_batch_is_stored_with_one_message_per_channel_and_priority(registry, redis_client):
    tasks = [NewTask(new_task_id(), channel, priority, {"text": "ok"})
             for channel, priority in [("chat", "high"), ("email", "low"), ("chat", "high")]]
    groups = [("chat-high", "message 1"), ("email-low", "message 2")]

    outcomes, _ = registry.accept(tasks, groups, [0, 1, 0])

    # Each position is taken as the item is stored: the low one has one high ahead then.
    assert [o.position for o in outcomes] == [1, 2, 2]
    assert redis_client.lrange("chat-high", 0, -1) == ["message 1"]
    assert redis_client.lrange("email-low", 0, -1) == ["message 2"]


def test_a_group_whose_tasks_were_all_refused_sends_no_message(registry, redis_client):
    accept(registry, capacity=1)

    outcomes, _ = registry.accept([NewTask(new_task_id(), "chat", "normal", {"text": "x"})],
                                  [("chat-list", "late")], [0], capacity=1)

    assert outcomes == [Refusal(waiting=1)]
    assert "late" not in redis_client.lrange("chat-list", 0, -1)


def test_results_of_a_batch_are_stored_in_one_call(registry):
    first, second = accept(registry), accept(registry)
    registry.claim([first, second], WORKER)

    done = registry.complete({first: {"sentiment": "positive", "processing_time_ms": 1.0},
                              second: {"sentiment": "negative", "processing_time_ms": 1.0}})

    assert done == 2
    assert [registry.get(i)["status"] for i in (first, second)] == ["completed"] * 2


def test_tasks_failed_together_are_all_listed_across_pages(registry, redis_client):
    tasks = [NewTask(new_task_id(), "chat", "normal", {"text": "x"}, timeout_seconds=0.001)
             for _ in range(5)]
    registry.accept(tasks, [("nowhere", "m")], [0] * 5)
    time.sleep(0.01)
    registry.claim([t.task_id for t in tasks], WORKER)  # all expire in one script run

    listed, cursor = [], None
    while True:
        page, cursor = registry.failed(lambda task: True, 2, cursor)
        listed += [task_id for task_id, _ in page]
        if cursor is None:
            break

    assert sorted(listed) == sorted(t.task_id for t in tasks)


def test_a_waiting_id_whose_task_expired_is_dropped_by_the_sweep(registry, celery,
                                                                  redis_client):
    task_id = accept(registry)
    redis_client.delete(keys.task(task_id))  # expired
    redis_client.zadd(keys.queued("chat", "normal"), {task_id: 1.0})

    sweep(registry, celery, requeue_after=30, holder="test")

    assert redis_client.zcard(keys.queued("chat", "normal")) == 0


def test_a_result_is_stored_as_compact_json_with_pythons_own_numbers(registry, redis_client):
    from tasks.sentiment import analyse_one

    texts = ["Great customer service experience!", "Müll. Nie wieder 😡",
             "The agent was rude. The refund came fast, though."]
    tasks = [NewTask(new_task_id(), "chat", "normal", {"text": text}) for text in texts]
    registry.accept(tasks, [("nowhere", "m")], [0] * len(tasks))
    registry.claim([t.task_id for t in tasks], WORKER)
    results = {t.task_id: analyse_one(t.fields["text"]) for t in tasks}
    registry.complete(results)

    for task in tasks:
        stored = redis_client.hget(keys.task(task.task_id), "result")
        expected = json.dumps(results[task.task_id], separators=(",", ":"))[:-1]
        assert stored.startswith(expected + ",")  # the script appends "escalate"
        assert redis_client.hget(keys.task(task.task_id), "text") == task.fields["text"]
