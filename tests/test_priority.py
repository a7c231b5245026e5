"""Queue order as users see it: position on submit, priority order, and timeouts.

Each test submits while no worker runs, then starts a real worker on a database of its own
and reads the order in which the registry saw the tasks start.
"""
import time

import pytest
import redis as redis_py

from conftest import bearer, make_app, running_worker, submission, wait_until


@pytest.fixture
def isolated(redis_server, request):
    """An app and a client on a Redis database no other worker consumes."""
    url = redis_server.database(request.param)
    client = redis_py.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    yield url, make_app(url).test_client()
    client.flushdb()


def post(client, **data):
    response = client.post("/task", json=submission(**data), headers=bearer())
    assert response.status_code == 202, response.json
    return response.json


def finished_tasks(client, task_ids):
    def all_finished():
        tasks = [client.get(f"/task/{i}", headers=bearer()).json for i in task_ids]
        return tasks if all(t["status"] in ("completed", "failed") for t in tasks) else None
    return wait_until(all_finished, 60, interval=0.2, message="every task to finish")


@pytest.mark.parametrize("isolated", [1], indirect=True)
def test_queue_position_counts_tasks_of_same_or_higher_priority_ahead(isolated):
    _, client = isolated

    lows = [post(client, channel="email", priority="low")["queue_position"] for _ in range(3)]
    normals = [post(client, channel="voice")["queue_position"] for _ in range(2)]
    high = post(client, channel="chat", priority="high")["queue_position"]
    late_low = post(client, channel="email", priority="low")["queue_position"]

    assert lows == [1, 2, 3]
    assert normals == [1, 2]  # the lows queued earlier are served after them
    assert high == 1
    assert late_low == 3 + 2 + 1 + 1


@pytest.mark.parametrize("isolated", [2], indirect=True)
def test_workers_serve_high_before_normal_before_low(isolated, tmp_path):
    url, client = isolated
    ids = {"low": [], "normal": [], "high": []}
    for priority, channel, count in (("low", "email", 30), ("normal", "voice", 20),
                                     ("high", "chat", 10)):
        for _ in range(count):
            ids[priority].append(post(client, channel=channel, priority=priority)["task_id"])

    with running_worker(url, tmp_path, "--concurrency", "1"):
        tasks = {p: finished_tasks(client, task_ids) for p, task_ids in ids.items()}

    started = {p: sorted(t["started_at"] for t in tasks[p]) for p in tasks}
    assert all(t["status"] == "completed" for p in tasks for t in tasks[p])
    assert started["high"][-1] < started["normal"][0]
    assert started["normal"][-1] < started["low"][0]


@pytest.mark.parametrize("isolated", [3], indirect=True)
def test_a_task_not_started_before_its_timeout_fails_expired(isolated, tmp_path):
    url, client = isolated
    expiring = post(client, channel="voice", timeout=0.3)["task_id"]
    patient = post(client, channel="voice", timeout=600)["task_id"]
    time.sleep(0.6)

    with running_worker(url, tmp_path):
        expired, done = finished_tasks(client, [expiring, patient])

    assert expired["status"] == "failed"
    assert expired["error"]["code"] == "TASK_EXPIRED"
    assert expired["timeout"] == 0.3
    assert "result" not in expired
    assert done["status"] == "completed"
