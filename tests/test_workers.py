"""Workers end to end: a real agent starts real Celery workers for POST /workers.

Heartbeats every second here (``WORKER_HEARTBEAT_SECONDS=1``), so a worker turns offline
within 3 s of its last beat; the waits below are generous bounds, never speed checks.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis as redis_py

import settings
from conftest import (
    OPERATOR_TOKEN,
    ROOT,
    bearer,
    error_of,
    make_app,
    platform_environment,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys
from workers.agent import Agent, Managed, restart_delay
from workers.heartbeat import OFFLINE_AFTER_BEATS

HOST = "agenthost"  # the agent's host name in node names: worker-<id>@agenthost
BEAT_SECONDS = 1
SETTINGS = {"WORKER_HEARTBEAT_SECONDS": BEAT_SECONDS, "WORKER_CONCURRENCY": 1,
            "WORKER_START_TIMEOUT_SECONDS": 60}
OPERATOR = bearer(OPERATOR_TOKEN)


class AgentProcess:
    """``python -m workers.agent`` as a real process."""

    def __init__(self, redis_url: str, data_dir, host: str = HOST):
        self.log = open(data_dir / "agent.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.agent", "--host", host], cwd=ROOT,
            env=platform_environment(redis_url, DATA_DIR=data_dir, **SETTINGS),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis_py.Redis.from_url(redis_url, decode_responses=True)
        try:
            wait_until(lambda: client.exists(keys.agent(host)), 20, message="agent heartbeat")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # stops its workers first
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


@pytest.fixture
def store(private_store):
    return private_store


@pytest.fixture
def api(server, store):
    return make_app(server.url, RATE_LIMIT="off", **SETTINGS).test_client()


@pytest.fixture
def agent(server, store, tmp_path):
    agent = AgentProcess(server.url, tmp_path)
    yield agent
    agent.stop()
    for line in (tmp_path / "agent.log").read_text().splitlines()[-5:]:
        print(line)


def workers_by_id(api) -> dict:
    answer = api.get("/workers", headers=OPERATOR).get_json()
    return {worker["id"]: worker for worker in answer["workers"]}


def listing(api) -> dict:
    response = api.get("/workers", headers=OPERATOR)
    assert response.status_code == 200
    return response.get_json()


def start(api, **body):
    response = api.post("/workers", json=body, headers=OPERATOR)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_workers_started_through_the_api_work_die_and_stop(api, agent, store):
    first = start(api, worker_id=1, config={"max_tasks": 100, "timeout": 20})
    second = start(api, config={"priorities": ["high"]})  # the lowest free id; an urgent lane

    assert first["worker_id"] == 1 and first["status"] == "started"
    assert first["endpoint"] == "ws://localhost/worker/1"
    assert first["hostname"] == f"worker-1@{HOST}"
    assert second["worker_id"] == 0 and second["hostname"] == f"worker-0@{HOST}"
    again = api.post("/workers", json={"worker_id": 1}, headers=OPERATOR)
    assert error_of(again, "WORKER_EXISTS")["details"] == {"worker_id": 1}

    answer = listing(api)
    assert answer["total_workers"] == 2 and answer["offline_workers"] == 0
    for worker_id, worker in zip((0, 1), answer["workers"], strict=True):
        assert worker["id"] == worker_id
        assert worker["status"] in ("idle", "active")
        assert worker["hostname"] == f"worker-{worker_id}@{HOST}"
        assert worker["concurrency"] == 1 and worker["managed"] is True
        assert worker["queues"] == ["chat", "email", "voice"]
        assert worker["priorities"] == (["high"] if worker_id == 0 else ["high", "normal", "low"])
        assert worker["pid"] > 0 and worker["uptime"].endswith("s")

    task_ids = [api.post("/task", json=submission(), headers=OPERATOR).get_json()["task_id"]
                for _ in range(20)]
    wait_until(lambda: all(store.hget(keys.task(t), "status") == "completed"
                           for t in task_ids), 60, message="the tasks to complete")
    wait_until(lambda: sum(w["tasks_processed"] for w in listing(api)["workers"]) == 20,
               10, message="tasks_processed to count the 20 tasks")
    assert workers_by_id(api)[0]["tasks_processed"] == 0  # high only: the tasks are normal

    # SIGKILL worker 1, pool and all: its agent starts it again, same id and command line.
    killed = workers_by_id(api)[1]
    os.killpg(killed["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    restarted = wait_until(lambda: (lambda w: w if w["pid"] != killed["pid"]
                                    and w["status"] in ("idle", "active") else None)(
                               workers_by_id(api)[1]), 60, message="worker 1 to be restarted")
    print(f"restarted {time.monotonic() - killed_at:.1f} s after SIGKILL")
    assert restarted["hostname"] == f"worker-1@{HOST}" and restarted["managed"] is True
    assert restarted["concurrency"] == 1
    more = [api.post("/task", json=submission(), headers=OPERATOR).get_json()["task_id"]
            for _ in range(5)]
    wait_until(lambda: all(store.hget(keys.task(t), "status") == "completed" for t in more),
               60, message="tasks after the restart to complete")

    # Stopped on purpose, it stays stopped.
    assert api.delete("/workers/1", headers=OPERATOR).status_code == 200
    time.sleep(3)  # longer than the first restart delay
    assert workers_by_id(api)[1]["status"] == "offline"

    stopped = api.delete("/workers/0", headers=OPERATOR)

    assert stopped.status_code == 200, stopped.get_json()
    assert stopped.get_json() == {"worker_id": 0, "status": "stopped",
                                  "hostname": f"worker-0@{HOST}"}
    assert workers_by_id(api)[0]["status"] == "offline"
    assert listing(api)["active_workers"] == 0


def test_a_worker_started_with_the_celery_cli_is_listed_and_stoppable(api, server, store,
                                                                      tmp_path):
    with running_worker(server.url, tmp_path, "--concurrency", "1", name="cli",
                        WORKER_HEARTBEAT_SECONDS=BEAT_SECONDS) as worker:
        node = wait_until(lambda: [w for w in listing(api)["workers"]], 10,
                          message="the CLI worker's heartbeat")[0]
        assert node["id"] == node["hostname"]
        assert node["hostname"].startswith("test-cli@")
        assert node["managed"] is False and node["status"] == "idle"
        assert api.get(f"/workers/{node['id']}", headers=OPERATOR).get_json()["pid"] == (
            worker.process.pid)

        # No agent runs it: the API asks the worker itself (Celery's shutdown control).
        stopping = api.delete(f"/workers/{node['id']}", headers=OPERATOR)

        assert stopping.status_code == 202
        assert stopping.get_json()["status"] == "stopping"
        assert worker.process.wait(30) == 0
    assert workers_by_id(api)[node["id"]]["status"] == "offline"


def test_a_killed_worker_turns_offline_within_three_beats(api, server, store, tmp_path):
    with running_worker(server.url, tmp_path, "--concurrency", "1", name="doomed",
                        WORKER_HEARTBEAT_SECONDS=BEAT_SECONDS) as worker:
        node = wait_until(lambda: [w for w in listing(api)["workers"]], 10,
                          message="the worker's heartbeat")[0]

        worker.kill()  # SIGKILL, pool and all: no shutdown, no last beat
        killed_at = time.monotonic()
        wait_until(lambda: workers_by_id(api)[node["id"]]["status"] == "offline",
                   OFFLINE_AFTER_BEATS * BEAT_SECONDS + 15, message="the worker to turn offline")
        print(f"offline {time.monotonic() - killed_at:.1f} s after SIGKILL")
        answer = listing(api)
        assert answer["offline_workers"] == 1 and answer["active_workers"] == 0
        assert workers_by_id(api)[node["id"]]["uptime"] is None
        gone = api.delete(f"/workers/{node['id']}", headers=OPERATOR)
        assert error_of(gone, "WORKER_OFFLINE")["details"] == {"worker_id": node["id"]}


def test_starting_a_worker_without_an_agent_is_worker_offline(api):
    response = api.post("/workers", json={"worker_id": 5}, headers=OPERATOR)

    assert "agent" in error_of(response, "WORKER_OFFLINE")["message"]
    assert api.get("/workers", headers=OPERATOR).get_json() == {
        "total_workers": 0, "active_workers": 0, "idle_workers": 0, "offline_workers": 0,
        "workers": []}


def test_an_unknown_worker_is_404(api):
    for response in (api.delete("/workers/42", headers=OPERATOR),
                     api.get("/workers/42", headers=OPERATOR)):
        assert error_of(response, "WORKER_NOT_FOUND")["details"] == {"worker_id": "42"}


@pytest.mark.parametrize("body, field", [
    ({"worker_id": -1}, "worker_id"),
    ({"worker_id": "3"}, "worker_id"),
    ({"worker_id": 2.5}, "worker_id"),
    ({"config": {"max_tasks": 0}}, "config.max_tasks"),
    ({"config": {"timeout": 0.5}}, "config.timeout"),
    ({"config": {"queues": ["fax"]}}, "config.queues.0"),
    ({"config": {"priorities": ["urgent"]}}, "config.priorities.0"),
    ({"config": {"priorities": []}}, "config.priorities"),
    ({"config": {"retries": 3}}, "config.retries"),
    ({"name": "w"}, "name"),
])
def test_invalid_start_requests_are_rejected_with_the_field(api, body, field):
    response = api.post("/workers", json=body, headers=OPERATOR)

    assert field in error_of(response, "INVALID_INPUT")["details"]


def test_starting_and_stopping_workers_needs_an_operator_token(api):
    for response in (api.post("/workers", json={}, headers=bearer()),
                     api.delete("/workers/1", headers=bearer())):
        error_of(response, "FORBIDDEN")
    error_of(api.get("/workers"), "UNAUTHORIZED")


def test_a_channel_token_reads_the_worker_list(api):
    assert api.get("/workers", headers=bearer()).status_code == 200
    error_of(api.get("/workers/1", headers=bearer()), "WORKER_NOT_FOUND")


def test_a_worker_timeout_must_leave_room_before_the_requeue_sweep(api):
    response = api.post("/workers", json={"config": {"timeout": 600}}, headers=OPERATOR)

    assert "config.timeout" in error_of(response, "INVALID_INPUT")["details"]


def test_restart_delays_double_while_a_worker_keeps_exiting_and_are_capped():
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_stopping_a_worker_waiting_for_its_restart_cancels_the_restart(server, store, tmp_path):
    config = {**settings.load(), "REDIS_URL": server.url}
    agent = Agent(store, HOST, config, tmp_path)
    node = f"worker-4@{HOST}"
    agent.managed[4] = Managed(["celery"], node, time.monotonic(),
                               restart_at=time.monotonic() + 60)

    agent.stop(keys.agent_reply("c1"), {"worker_id": 4, "node": node, "pid": None})

    assert json.loads(store.lpop(keys.agent_reply("c1"))) == {"status": "stopped", "node": node}
    assert agent.managed == {}
    agent.restart_due()
    assert agent.children == {}
