"""How a heartbeat hash reads as a worker's state: pure logic, no Redis."""
import pytest

from workers import state
from workers.heartbeat import OFFLINE_AFTER_BEATS

NOW = 1_800_000_000.0


def beat(node="worker-3@web-1", seconds_ago=0.5, **fields) -> dict:
    """A heartbeat hash as the worker writes it (strings), last seen ``seconds_ago``."""
    base = {"node": node, "platform_id": "3", "state": "idle", "busy": "0", "load": "0.0",
            "tasks_processed": "7", "concurrency": "2", "queues": "chat,email,voice",
            "pid": "4242", "heartbeat_seconds": "2.0", "started_at": str(NOW - 60),
            "last_seen": str(NOW - seconds_ago)}
    return {**base, **{k: str(v) for k, v in fields.items()}}


def test_a_fresh_beat_reads_as_its_state():
    worker = state.parse(beat(state="active", busy=1, load=0.5), NOW)

    assert worker.id == 3 and worker.host == "web-1"
    assert worker.status == "active" and worker.busy == 1 and worker.load == 0.5
    assert worker.queues == ("chat", "email", "voice")
    assert worker.uptime_seconds == pytest.approx(60)


@pytest.mark.parametrize("seconds_ago, status", [
    (OFFLINE_AFTER_BEATS * 2.0 - 0.01, "idle"),
    (OFFLINE_AFTER_BEATS * 2.0 + 0.01, "offline"),
])
def test_a_worker_is_offline_after_three_missed_beats_of_its_own_interval(seconds_ago, status):
    assert state.parse(beat(seconds_ago=seconds_ago), NOW).status == status


def test_an_offline_worker_is_never_busy_and_has_no_uptime():
    worker = state.parse(beat(state="active", busy=2, load=1.0, seconds_ago=60), NOW)

    assert (worker.status, worker.busy, worker.load, worker.uptime_seconds) == (
        "offline", 0, 0.0, None)
    assert worker.tasks_processed == 7  # what it did stays listed


def test_a_stopped_worker_is_offline_at_once():
    assert state.parse(beat(stopped_at=NOW - 0.1), NOW).status == "offline"


def test_a_worker_started_elsewhere_is_named_by_its_node():
    worker = state.parse(beat(node="celery@batch-3", platform_id=""), NOW)

    assert worker.id == "celery@batch-3" and worker.platform_id is None


def test_find_prefers_the_online_worker_holding_an_id():
    old = state.parse(beat(node="worker-3@old-host", seconds_ago=100), NOW)
    new = state.parse(beat(node="worker-3@new-host"), NOW)

    assert state.find([old, new], "3") is new
    assert state.find([old, new], "worker-3@old-host") is old
    assert state.find([old, new], "4") is None
    assert state.listed([old, new]) == [new]
    assert state.counts([old, new]) == {"total": 1, "active": 0, "idle": 1, "offline": 0}


def test_ids_in_use_include_node_names_that_look_like_platform_ids():
    procfile_worker = state.parse(beat(node="worker-0@web-1", platform_id=""), NOW)
    managed = state.parse(beat(node="worker-5@web-1", platform_id="5"), NOW)
    dead = state.parse(beat(node="worker-6@web-1", platform_id="6", seconds_ago=100), NOW)

    assert state.ids_in_use([procfile_worker, managed, dead]) == {0, 5}


def test_a_beat_without_priorities_reads_as_a_worker_taking_every_priority():
    assert state.parse(beat(), NOW).priorities == ("high", "normal", "low")
    assert state.parse(beat(priorities="high"), NOW).priorities == ("high",)


def test_waiting_tasks_are_unserved_at_a_priority_no_online_worker_of_the_channel_takes():
    urgent = state.parse(beat(node="urgent-0@web-1", priorities="high"), NOW)
    everything = state.parse(beat(node="worker-0@web-1"), NOW)
    dead = state.parse(beat(node="worker-1@web-1", seconds_ago=100), NOW)
    chat_only = state.parse(beat(node="worker-2@web-1", queues="chat"), NOW)
    waiting = {"high": 2, "normal": 0, "low": 5}

    assert state.unserved([urgent], "email", waiting)  # its low tasks wait for nobody
    assert not state.unserved([urgent], "email", {"high": 2, "normal": 0, "low": 0})
    assert not state.unserved([urgent, everything], "email", waiting)
    assert state.unserved([urgent, dead], "email", waiting)
    assert state.unserved([urgent, chat_only], "email", waiting)
    assert not state.unserved([urgent, chat_only], "chat", waiting)
