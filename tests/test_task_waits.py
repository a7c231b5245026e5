"""Waiting for a task to finish: the registry's scripts tell the waiters, each process wakes
its own requests (tasks.task_waits). Real Redis, no API."""
import time

import pytest

from conftest import store_task
from tasks import keys
from tasks.connections import connect
from tasks.registry import TaskRegistry
from tasks.task_waits import MARK_GRACE_SECONDS, TaskWaits


@pytest.fixture
def registry(private_redis, private_store):
    return TaskRegistry(connect(private_redis.url), ttl_seconds=3600, event_maxlen=1000,
                        estimate_window_seconds=60, max_attempts=3)


@pytest.fixture
def waits(private_redis, private_store):
    waits = TaskWaits(connect(private_redis.url))
    yield waits
    waits.close()


def complete(registry, task_id):
    registry.claim([task_id], "worker-1")
    return registry.complete({task_id: {"sentiment": "positive", "processing_time_ms": 1.0}})


def test_a_watch_marks_its_task_awaited_for_the_wait(registry, waits, private_store):
    task_id = store_task(registry).task_id
    waits.watch(task_id, 10)
    assert 10 < private_store.ttl(keys.awaited(task_id)) <= 10 + MARK_GRACE_SECONDS


def test_completing_failing_or_cancelling_wakes_that_task_s_waiters_only(registry, waits):
    completed, failed, cancelled = (store_task(registry).task_id for _ in range(3))
    woken = {task_id: waits.watch(task_id, 10) for task_id in (completed, failed, cancelled)}

    assert complete(registry, completed) == 1
    assert woken[completed].wait(5)
    assert not woken[failed].is_set() and not woken[cancelled].is_set()

    assert registry.fail(failed, "ANALYSIS_FAILED", "test")
    assert woken[failed].wait(5)
    assert registry.cancel(cancelled) is None
    assert woken[cancelled].wait(5)


def test_a_task_nobody_waits_for_publishes_nothing(registry, private_store):
    listener = private_store.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(keys.task_finished(private_store))
    try:
        awaited, unwatched = store_task(registry).task_id, store_task(registry).task_id
        private_store.set(keys.awaited(awaited), 1, ex=10)
        complete(registry, unwatched)
        complete(registry, awaited)
        published, deadline = [], time.monotonic() + 1
        while time.monotonic() < deadline:  # None also stands for the SUBSCRIBE's reply
            message = listener.get_message(timeout=0.1)
            if message is not None:
                published.append(message["data"])
        assert published == [awaited]
    finally:
        listener.close()


def test_a_task_finished_in_another_database_wakes_no_waiter_here(private_redis, waits):
    # Pub/sub channels are server-wide: a deployment in database 1 must not wake database
    # 0's waiters, even for an id both wait on.
    other = connect(private_redis.database(1))
    other.flushdb()
    try:
        other_registry = TaskRegistry(other, ttl_seconds=3600, event_maxlen=1000,
                                      estimate_window_seconds=60, max_attempts=3)
        task_id = store_task(other_registry).task_id
        other.set(keys.awaited(task_id), 1, ex=10)  # a waiter of database 1
        listener = other.pubsub(ignore_subscribe_messages=True)
        listener.subscribe(keys.task_finished(other))
        woken_here = waits.watch(task_id, 10)

        assert complete(other_registry, task_id) == 1
        message, deadline = None, time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = listener.get_message(timeout=0.1)
        listener.close()
        assert message is not None and message["data"] == task_id  # database 1 was told
        assert not woken_here.wait(1)
    finally:
        other.flushdb()


def test_closing_wakes_every_waiter(registry, waits):
    woken = waits.watch(store_task(registry).task_id, 10)
    waits.close()
    assert woken.is_set()
