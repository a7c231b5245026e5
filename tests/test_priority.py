"""Queue order as users see it: position on submit, priority order, and timeouts.

Each test submits while no worker runs, then starts a real worker on a database of its own
and reads the order in which the registry saw the tasks start.
"""
import time

import click
import pytest
import redis as redis_py

from conftest import bearer, make_app, read_snippets, running_worker, submission, wait_until
from tasks import keys
from workers import priorities


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

    assert all(t["status"] == "completed" for p in tasks for t in tasks[p])
    # The registry's start times, to the microsecond: the API shows milliseconds, and two
    # tasks of a lone pool process can start within the same one.
    store = redis_py.Redis.from_url(url, decode_responses=True)
    started = {p: sorted(float(store.hget(keys.task(i), "started_at")) for i in task_ids)
               for p, task_ids in ids.items()}
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


@pytest.mark.parametrize("isolated", [6], indirect=True)
def test_a_worker_taking_high_only_leaves_the_other_priorities_queued(isolated, tmp_path):
    url, client = isolated
    others = [post(client, channel="email", priority="low")["task_id"],
              post(client, channel="voice")["task_id"]]
    highs = [post(client, channel=channel, priority="high")["task_id"]
             for channel in ("chat", "voice", "email")]

    with running_worker(url, tmp_path, "--pool", "solo", "--priorities", "high", name="urgent"):
        assert all(t["status"] == "completed" for t in finished_tasks(client, highs))
        workers = client.get("/workers", headers=bearer()).json["workers"]
        assert [w["priorities"] for w in workers if w["hostname"].startswith("test-urgent@")
                and w["status"] != "offline"] == [["high"]]
        time.sleep(2)  # a worker taking every priority finishes them within milliseconds
    assert [client.get(f"/task/{i}", headers=bearer()).json["status"] for i in others] == [
        "queued", "queued"]

    with running_worker(url, tmp_path, name="any-priority"):
        assert all(t["status"] == "completed" for t in finished_tasks(client, others))


@pytest.mark.parametrize("isolated", [7], indirect=True)
def test_a_high_message_skips_a_busy_pool_through_the_urgent_worker(isolated, tmp_path):
    """The main worker's one pool process works through a message of long emails; a high
    chat message still completes first, on the urgent worker (Procfile's ``urgent``)."""
    url, client = isolated
    snippets = read_snippets(400)
    email = " ".join(snippets)[:20_000]  # MAX_TEXT_CHARS: about 0.3 s of VADER each
    emails = [f"{n}. {email}"[:20_000] for n in range(10)]  # one message: MESSAGE_CHARS
    with running_worker(url, tmp_path, "--pool", "solo", "--priorities", "high",
                        name="urgent"), running_worker(url, tmp_path, "--concurrency", "1"):
        batch = client.post("/tasks", headers=bearer(), json={"tasks": [
            submission(text, channel="email", priority="low") for text in emails]})
        assert batch.status_code == 202, batch.json
        email_ids = [item["task_id"] for item in batch.json["tasks"]]
        wait_until(lambda: client.get(f"/task/{email_ids[0]}", headers=bearer()).json[
            "status"] == "processing", 30, message="the main worker to take the emails")

        high = post(client, channel="chat", priority="high")["task_id"]
        finished = finished_tasks(client, [high, *email_ids])

    assert all(t["status"] == "completed" for t in finished)
    store = redis_py.Redis.from_url(url, decode_responses=True)
    (high_worker, high_finished), *emails_done = [
        store.hmget(keys.task(task_id), "worker", "finished_at") for task_id in [high, *email_ids]]
    assert high_worker.startswith("test-urgent@")
    assert float(high_finished) < min(float(finished_at) for _, finished_at in emails_done)



def test_priorities_option_names_the_kombu_steps_a_worker_polls():
    assert priorities.parse(None) == ("high", "normal", "low")
    assert priorities.parse("low, high") == ("high", "low")  # most urgent first
    assert priorities.priority_steps(("high",)) == [0]
    assert priorities.priority_steps(("normal", "low")) == [3, 6]
    # Every priority: kombu's default steps, which Flower sums queue lengths over.
    assert priorities.priority_steps(priorities.parse("high,normal,low")) == [0, 3, 6, 9]
    for wrong in ("urgent", "high,urgent", ","):
        with pytest.raises(click.BadParameter):
            priorities.parse(wrong)
