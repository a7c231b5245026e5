"""Fault injection with real processes: nothing accepted is lost, nothing is done twice.

Each test runs its own redis-server (append-only, as in production) and real Celery workers
(``tests/fault_worker.py``: the production app, with texts that can stall or crash their
pool process), kills what a real outage would kill, and counts: every accepted task ends
exactly once.
"""
import json
import os
import signal
import time

import pytest
import redis as redis_py
import requests

from conftest import (
    APIServer,
    RedisServer,
    SupervisedWorker,
    Worker,
    bearer,
    make_app,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys

pytestmark = pytest.mark.slow

# Small limits so the tests run in seconds; REQUEUE_AFTER stays above the hard limit.
FAST_LIMITS = {"TASK_SOFT_TIME_LIMIT_SECONDS": 2, "TASK_TIME_LIMIT_SECONDS": 3,
               "REQUEUE_AFTER_SECONDS": 4, "MAX_ATTEMPTS": 3}


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own, which the test may kill and restart."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def client(redis_server):
    return make_app(redis_server.url, RATE_LIMIT="off").test_client()


@pytest.fixture
def store(redis_server):
    return redis_py.Redis(port=redis_server.port, decode_responses=True)


def fault_worker(redis_server, tmp_path, *args, name="worker", **options):
    return running_worker(redis_server.url, tmp_path, "--concurrency", "1", *args,
                          name=name, app_module="fault_worker", **{**FAST_LIMITS, **options})


def submit(client, text="Great service!", **data) -> str:
    response = client.post("/task", json=submission(text, **data), headers=bearer())
    assert response.status_code == 202, response.get_json()
    return response.get_json()["task_id"]


def status(store, task_id) -> str:
    return store.hget(keys.task(task_id), "status")


def finished(store, task_ids, timeout=60):
    """Wait until every task ended; return their registry hashes."""
    unfinished = {}

    def all_done():
        tasks = [store.hgetall(keys.task(i)) for i in task_ids]
        unfinished.clear()
        unfinished.update({i: t for i, t in zip(task_ids, tasks, strict=True)
                           if t.get("status") not in ("completed", "failed")})
        return None if unfinished else tasks
    try:
        return wait_until(all_done, timeout, interval=0.2, message="every task to end")
    except BaseException:
        stuck = {i: {k: v for k, v in t.items() if k != "text"}
                 for i, t in list(unfinished.items())[:3]}
        print(f"{len(unfinished)} unfinished, e.g. {stuck}")
        lists = [k for k in store.scan_iter("*") if store.type(k) == "list"]
        print("queues:", {k: store.llen(k) for k in lists})
        print("unacked:", store.hlen("unacked"), "processing:", store.zcard(keys.PROCESSING))
        raise


def completions(store) -> dict[str, int]:
    """How many times the event stream saw each task complete."""
    counts = {}
    for _, fields in store.xrange(keys.EVENTS):
        event = json.loads(fields["event"])
        if event.get("status") == "completed":  # escalation events have no status
            counts[event["task_id"]] = counts.get(event["task_id"], 0) + 1
    return counts


def assert_each_completed_once(store, task_ids):
    tasks = finished(store, task_ids)
    assert [t["status"] for t in tasks] == ["completed"] * len(task_ids)
    counted = completions(store)
    assert all(counted.get(i) == 1 for i in task_ids), "a task completed twice or never"


def test_pool_process_killed_mid_task_completes_once(redis_server, client, store, tmp_path):
    task_id = submit(client, "STALL 1.5 The agent was helpful.")
    others = [submit(client) for _ in range(5)]

    with fault_worker(redis_server, tmp_path) as worker:
        wait_until(lambda: status(store, task_id) == "processing", 30, message="task to start")
        [child] = worker.pool_pids()
        os.kill(child, signal.SIGKILL)
        assert_each_completed_once(store, [task_id, *others])

    assert store.hget(keys.task(task_id), "attempts") == "2"


def test_whole_worker_killed_mid_task_loses_nothing(redis_server, client, store, tmp_path):
    in_hand = submit(client, "STALL 1 Thanks for the quick reply.")
    queued = [submit(client) for _ in range(200)]

    with fault_worker(redis_server, tmp_path, name="doomed") as worker:
        wait_until(lambda: status(store, in_hand) == "processing", 30, message="task to start")
        worker.kill()
    killed_at = time.monotonic()

    with fault_worker(redis_server, tmp_path, name="successor"):
        assert_each_completed_once(store, [in_hand, *queued])
    # The requeue sweep, not the hour-long visibility timeout, brought the task back.
    assert time.monotonic() - killed_at < 30


def test_warm_shutdown_finishes_the_task_in_hand(redis_server, client, store, tmp_path):
    in_hand = submit(client, "STALL 1.5 Lovely support team.")
    queued = [submit(client) for _ in range(20)]
    worker = Worker(redis_server.url, tmp_path / "warm.log", "--concurrency", "1",
                    app_module="fault_worker", **FAST_LIMITS)
    wait_until(lambda: status(store, in_hand) == "processing", 30, message="task to start")

    worker.process.send_signal(signal.SIGTERM)  # warm shutdown: finish what is in hand
    worker.process.wait(30)
    worker.stop()

    assert status(store, in_hand) == "completed"
    with fault_worker(redis_server, tmp_path, name="next"):
        assert_each_completed_once(store, [in_hand, *queued])


def test_redis_killed_with_a_backlog_recovers_everything(redis_server, client, store, tmp_path):
    task_ids = [submit(client, f"Order {n} arrived damaged, very disappointed.")
                for n in range(1000)]
    # Supervised as under make run: kombu 5.7 sometimes ends a worker with "Unrecoverable
    # error" while it closes the channel Redis dropped; supervisor starts it again.
    workers = SupervisedWorker(redis_server.url, tmp_path, "--concurrency", "2",
                               app_module="fault_worker", **FAST_LIMITS)
    try:
        wait_until(lambda: len(completions(store)) >= 100, 60, message="work under way")
        redis_server.kill()
        time.sleep(1)
        redis_server.start()  # same port, same append-only file
        returned_at = time.monotonic()
        assert_each_completed_once(store, task_ids)
        assert time.monotonic() - returned_at < 60
    finally:
        workers.stop()


def test_api_answers_503_without_redis_and_recovers_by_itself(redis_server, tmp_path):
    api = APIServer(redis_server.url, tmp_path / "api.log", RATE_LIMIT="off")
    try:
        redis_server.kill()
        started = time.monotonic()
        down = requests.post(f"{api.url}/task", json=submission(), headers=bearer(), timeout=10)
        elapsed = time.monotonic() - started

        assert down.status_code == 503 and elapsed < 2
        assert down.json()["error"]["code"] == "REDIS_UNAVAILABLE"

        redis_server.start()
        up = wait_until(lambda: _accepted(api.url), 20, interval=0.2, message="API recovery")
        assert up["status"] == "accepted"
    finally:
        api.stop()


def _accepted(url):
    response = requests.post(f"{url}/task", json=submission(), headers=bearer(), timeout=5)
    return response.json() if response.status_code == 202 else None


def test_a_worker_started_before_redis_waits_then_consumes(redis_server, client, store,
                                                          tmp_path):
    task_id = submit(client)
    redis_server.stop()
    worker = Worker(redis_server.url, tmp_path / "early.log", app_module="fault_worker",
                    wait=False, **FAST_LIMITS)
    try:
        time.sleep(2)
        assert worker.process.poll() is None  # still waiting for Redis, not exited
        redis_server.start()
        worker.wait_ready()
        assert_each_completed_once(store, [task_id])
    finally:
        worker.stop()


def test_a_poison_message_is_dead_lettered_while_others_flow(redis_server, client, store,
                                                            tmp_path):
    poison = submit(client, "CRASH this text kills its worker")
    healthy = [submit(client) for _ in range(10)]

    with fault_worker(redis_server, tmp_path):
        tasks = finished(store, [poison, *healthy])

    assert tasks[0]["status"] == "failed"
    assert tasks[0]["error_code"] == "TOO_MANY_ATTEMPTS"
    assert tasks[0]["attempts"] == str(FAST_LIMITS["MAX_ATTEMPTS"])
    assert store.zscore(keys.DEAD, poison) is not None
    assert [t["status"] for t in tasks[1:]] == ["completed"] * 10


def test_a_task_over_its_time_limit_fails_and_the_worker_carries_on(redis_server, client,
                                                                   store, tmp_path):
    slow = submit(client, "STALL 10 never finishes in time")
    after = submit(client)

    with fault_worker(redis_server, tmp_path):
        slow_task, after_task = finished(store, [slow, after])

    assert (slow_task["status"], slow_task["error_code"]) == ("failed", "TASK_TIMEOUT")
    assert after_task["status"] == "completed"


def test_a_solo_worker_holds_its_tasks_to_the_time_limit_too(redis_server, client, store,
                                                            tmp_path):
    # Celery enforces time limits from a prefork parent only; the urgent lane runs solo.
    slow = submit(client, "STALL 10 never finishes in time", priority="high")
    after = submit(client, priority="high")

    started = time.monotonic()
    with fault_worker(redis_server, tmp_path, "--pool", "solo", "--priorities", "high"):
        slow_task, after_task = finished(store, [slow, after])

    assert (slow_task["status"], slow_task["error_code"]) == ("failed", "TASK_TIMEOUT")
    assert slow_task["worker"].startswith("test-worker@")
    assert after_task["status"] == "completed"
    assert time.monotonic() - started < 10  # the stall did not run its course


def test_rate_limit_holds_across_gunicorn_processes(redis_server, tmp_path):
    api = APIServer(redis_server.url, tmp_path / "api.log", RATE_LIMIT="20/minute",
                    WEB_CONCURRENCY=2)
    try:
        answers = []
        for _ in range(30):  # a new connection each time: either process may answer
            answers.append(requests.get(f"{api.url}/task/task_x", headers=bearer(),
                                        timeout=5))
        statuses = [a.status_code for a in answers]

        assert statuses.count(404) == 20 and statuses.count(429) == 10
        assert all(a.headers["X-RateLimit-Limit"] == "20" for a in answers)
        assert answers[-1].json()["error"]["code"] == "RATE_LIMITED"
        assert int(answers[-1].headers["Retry-After"]) > 0
    finally:
        api.stop()


def test_redis_out_of_memory_is_503_not_500(tmp_path):
    server = RedisServer(tmp_path / "small")
    server.start()
    try:
        store = redis_py.Redis(port=server.port)
        store.config_set("maxmemory", "2mb")
        store.config_set("maxmemory-policy", "noeviction")
        with pytest.raises(redis_py.exceptions.OutOfMemoryError):
            for n in range(100_000):
                store.set(f"filler:{n}", "x" * 100)
        client = make_app(server.url, RATE_LIMIT="off").test_client()

        response = client.post("/task", json=submission(), headers=bearer())

        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "QUEUE_FULL"
        assert not list(store.scan_iter(keys.TASK % "*"))
    finally:
        server.stop()


def test_a_poison_text_in_a_batch_fails_alone(redis_server, client, store, tmp_path):
    texts = ["Lovely service."] * 4 + ["CRASH inside a batch"] + ["Rude agent."] * 5
    answers = client.post("/tasks", json={"tasks": [submission(t) for t in texts]},
                          headers=bearer()).get_json()["tasks"]
    task_ids = [answer["task_id"] for answer in answers]

    with fault_worker(redis_server, tmp_path):
        tasks = finished(store, task_ids)

    statuses = [t["status"] for t in tasks]
    assert statuses == ["completed"] * 4 + ["failed"] + ["completed"] * 5
    assert tasks[4]["error_code"] == "TOO_MANY_ATTEMPTS"
    assert sum(completions(store).values()) == 9  # each neighbour completed once
    # Each neighbour counts the one death of their shared message, no more.
    assert {t["attempts"] for i, t in enumerate(tasks) if i != 4} == {"2"}


def test_a_batch_that_runs_past_the_time_limit_is_split_not_failed(redis_server, client, store,
                                                                 tmp_path):
    # Each text alone fits the 2-s soft limit; the three together do not.
    texts = ["STALL 0.9 Slow but fine."] * 3
    answers = client.post("/tasks", json={"tasks": [submission(t) for t in texts]},
                          headers=bearer()).get_json()["tasks"]
    task_ids = [answer["task_id"] for answer in answers]

    with fault_worker(redis_server, tmp_path):
        tasks = finished(store, task_ids)

    assert [t["status"] for t in tasks] == ["completed"] * 3
    assert sum(completions(store).values()) == 3
