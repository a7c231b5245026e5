"""The per-process event reader: fan-out, slow subscribers, replay. Real Redis, no API."""
import json

import pytest

from conftest import wait_until
from tasks import event_feed, keys
from tasks.connections import connect
from tasks.event_feed import TASKS, WORKERS, EventFeed, Subscription, stream_id


@pytest.fixture
def feed(private_redis, private_store):
    feed = EventFeed(connect(private_redis.url))
    yield feed
    feed.close()


def publish(client, stream_key, body) -> str:
    return client.xadd(stream_key, {"event": json.dumps(body)})


def drain(subscription: Subscription, count: int):
    events = []
    while len(events) < count:
        event = subscription.get(5)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


def test_every_subscriber_gets_every_event_in_order(feed):
    first = feed.subscribe(lambda e: True)
    second = feed.subscribe(lambda e: e.stream == TASKS)

    ids = [publish(feed.client, keys.EVENTS, {"task_id": f"t{n}", "status": "queued"})
           for n in range(50)]
    worker_id = publish(feed.client, keys.WORKER_EVENTS, {"node": "w@h", "id": "w@h"})

    got_first = drain(first, 51)
    assert [e.id for e in got_first if e.stream == TASKS] == ids
    assert [e.id for e in got_first if e.stream == WORKERS] == [worker_id]
    assert [e.id for e in drain(second, 50)] == ids
    assert second.get(0.2) is None  # the filter kept the worker event out


def test_a_subscriber_that_does_not_read_is_dropped_without_slowing_the_others(feed):
    slow = Subscription(lambda e: True, size=10)
    with feed._lock:
        feed._subscribers.add(slow)
        feed._ensure_reader()
    fast = feed.subscribe(lambda e: True)

    ids = [publish(feed.client, keys.EVENTS, {"task_id": f"t{n}"}) for n in range(200)]

    assert [e.id for e in drain(fast, 200)] == ids
    assert slow.overflowed
    assert slow.queue.qsize() == 10  # what it had room for; the rest is in the stream


def test_replay_returns_what_followed_an_id(feed):
    ids = [publish(feed.client, keys.EVENTS, {"task_id": f"t{n}"}) for n in range(7)]

    replayed = feed.replay(TASKS, ids[2], count=3)

    assert [e.id for e in replayed] == ids[3:6]
    assert replayed[0].body == {"task_id": "t3"}
    assert feed.first_id(TASKS) == ids[0]


def test_stream_ids_compare_as_numbers():
    assert stream_id("1700000000000-10") > stream_id("1700000000000-9")
    assert stream_id("999") < stream_id("1000-0")
    with pytest.raises(ValueError):
        stream_id("latest")


def test_the_reader_survives_a_failing_filter(feed):
    def broken(event):
        raise RuntimeError("bug in one client's filter")

    bad = feed.subscribe(broken)
    good = feed.subscribe(lambda e: True)

    publish(feed.client, keys.EVENTS, {"task_id": "t1"})

    assert drain(good, 1)[0].body == {"task_id": "t1"}
    wait_until(lambda: bad.overflowed, 5, message="the broken subscriber to be dropped")


def test_the_reader_stops_when_nobody_listens_and_starts_again(feed, monkeypatch):
    monkeypatch.setattr(event_feed, "IDLE_STOP_SECONDS", 0.2)
    subscription = feed.subscribe(lambda e: True)
    assert feed.reading
    feed.unsubscribe(subscription)
    wait_until(lambda: not feed.reading, 5, message="the idle reader to stop")

    subscription = feed.subscribe(lambda e: True)  # a new subscriber starts a new reader

    assert feed.reading
    event_id = publish(feed.client, keys.EVENTS, {"task_id": "t1", "status": "completed"})
    assert drain(subscription, 1)[0].id == event_id
