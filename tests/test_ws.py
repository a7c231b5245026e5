"""WebSockets end to end: gunicorn (gevent), a real worker, simple-websocket's client."""
import json
import os
import signal

import pytest
import redis as redis_py
import requests
from simple_websocket import Client, ConnectionClosed, ConnectionError

from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    APIServer,
    RedisServer,
    Worker,
    bearer,
    receive_until,
    submission,
    wait_until,
)
from tasks import keys

WS_LIMIT = 3
API_SETTINGS = {"WEB_CONCURRENCY": 1,
                "WS_MAX_CONNECTIONS": WS_LIMIT, "RATE_LIMIT": "off"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("ws-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(server, tmp_path_factory):
    worker = Worker(server.url, tmp_path_factory.mktemp("ws-logs") / "ws-worker.log",
                    "--concurrency", "1", WORKER_HEARTBEAT_SECONDS=1)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def api(server, worker, tmp_path_factory):
    """One gunicorn process, so the socket limit is the process's."""
    api = APIServer(server.url, tmp_path_factory.mktemp("ws-logs") / "gunicorn.log",
                    **API_SETTINGS)
    yield api
    api.stop()


@pytest.fixture
def store(server):
    return redis_py.Redis(port=server.port, decode_responses=True)


def ws_url(api, path: str) -> str:
    return api.url.replace("http://", "ws://") + path


def connect(api, path="/tasks/updates", token=OPERATOR_TOKEN) -> Client:
    """A connected client, once the process has a free socket slot."""
    # Sockets an earlier test closed free their slots within half a second.
    return wait_until(lambda: _try_connect(api, path, token), 10, interval=0.2,
                      message="a free socket slot")


def _try_connect(api, path="/tasks/updates", token=OPERATOR_TOKEN):
    try:
        return Client.connect(ws_url(api, path), headers={"Authorization": f"Bearer {token}"})
    except ConnectionError as refusal:
        if refusal.status_code != 503:
            raise
        return None


def refused(api, path="/tasks/updates", **options) -> int:
    with pytest.raises(ConnectionError) as refusal:
        Client.connect(ws_url(api, path), **options)
    return refusal.value.status_code


def submit(api, token=CHANNEL_TOKEN, **data) -> str:
    response = requests.post(f"{api.url}/task", json=submission(**data),
                             headers=bearer(token), timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def finished(task_ids):
    def done(messages):
        ended = {m["task_id"] for m in messages
                 if m.get("type") == "task" and m["status"] in ("completed", "failed")}
        return set(task_ids) <= ended
    return done


def test_an_operator_socket_gets_every_change_of_tasks_it_did_not_submit(api):
    client = connect(api)
    try:
        task_ids = [submit(api, priority="high"), submit(api, channel="voice")]
        messages = receive_until(client, finished(task_ids))
    finally:
        client.close()

    for task_id in task_ids:
        mine = [m for m in messages if m.get("task_id") == task_id]
        assert [m["status"] for m in mine] == ["queued", "processing", "completed"]
        assert all(m["type"] == "task" and m["id"] for m in mine)
        assert mine[1]["worker"].startswith("test-ws-worker@")
        assert mine[2]["result"]["sentiment"] == "positive"
        assert mine[2]["at"].endswith("+00:00")
    assert {m["channel"] for m in messages if m.get("task_id") in task_ids} == {"chat", "voice"}


def test_a_channel_socket_gets_only_the_tasks_its_token_submitted(api, store):
    [(before, _)] = store.xrevrange(keys.EVENTS, count=1) or [("0-0", None)]
    client = connect(api, token=CHANNEL_TOKEN)
    try:
        others = submit(api, token=OTHER_CHANNEL_TOKEN)
        mine = submit(api)
        messages = receive_until(client, finished([mine]))
        # Replayed from before both: the filter holds for stored events too.
        replay = connect(api, f"/tasks/updates?last_event_id={before}",
                         token=OTHER_CHANNEL_TOKEN)
        replayed = receive_until(replay, finished([others]))
        replay.close()
    finally:
        client.close()

    assert {m["task_id"] for m in messages} == {mine}
    assert [m["status"] for m in messages] == ["queued", "processing", "completed"]
    assert {m["task_id"] for m in replayed} == {others}
    assert not any("owner" in m for m in messages + replayed)  # used to filter, not shown


def test_a_client_that_reconnects_with_its_last_event_id_misses_nothing(api, store):
    client = connect(api)
    first = submit(api)
    seen = receive_until(client, finished([first]))
    last_id = seen[-1]["id"]
    client.close()

    while_away = [submit(api) for _ in range(5)]
    wait_until(lambda: all(store.hget(keys.task(t), "status") == "completed"
                           for t in while_away), 30, message="the tasks to complete")
    client = Client.connect(ws_url(api, f"/tasks/updates?last_event_id={last_id}"),
                            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    try:
        replayed = receive_until(client, finished(while_away))
        later = submit(api)  # and the live feed carries on after the replay
        live = receive_until(client, finished([later]))
    finally:
        client.close()

    stored = [entry_id for entry_id, _ in store.xrange(keys.EVENTS, f"({last_id}", "+")]
    received = [m["id"] for m in replayed + live]
    assert received == stored[:len(received)]  # in order, none missing, none twice
    assert {m["task_id"] for m in replayed} >= set(while_away)
    assert all(m["type"] == "task" for m in replayed)


def test_a_token_in_the_websocket_subprotocol_authenticates(api):
    client = Client.connect(ws_url(api, "/tasks/updates"), subprotocols=["bearer", OPERATOR_TOKEN])
    try:
        assert client.subprotocol == "bearer"  # the token is never echoed back
        task_id = submit(api)
        assert receive_until(client, finished([task_id]))
    finally:
        client.close()


def test_sockets_need_an_operator_token_never_one_in_the_url(api):
    assert refused(api) == 401
    assert refused(api, f"/tasks/updates?token={OPERATOR_TOKEN}") == 401
    assert refused(api, "/workers/updates",
                   headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"}) == 403
    assert refused(api, "/tasks/updates?last_event_id=latest",
                   headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) == 400
    assert refused(api, "/worker/0") == 401
    assert refused(api, "/worker/99", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) == (
        404)


def test_a_process_holds_its_socket_limit_and_keeps_serving_http(api):
    clients = [connect(api) for _ in range(WS_LIMIT)]
    try:
        assert refused(api, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) == 503
        assert requests.get(f"{api.url}/workers", headers=bearer(OPERATOR_TOKEN),
                            timeout=5).status_code == 200
        clients.pop().close()
        clients.append(connect(api))  # the closed socket's slot is free again
    finally:
        for client in clients:
            client.close()



def test_a_worker_feed_shows_its_beats_and_the_tasks_it_runs(api, worker):
    node = f"test-ws-worker@{os.uname().nodename}"
    client = connect(api, f"/worker/{node}")
    try:
        hello = json.loads(client.receive(timeout=10))
        assert hello["type"] == "worker" and hello["id"] == node
        assert hello["status"] in ("idle", "active") and hello["pid"] == worker.process.pid
        task_ids = [submit(api), submit(api)]
        messages = receive_until(client, finished(task_ids))
        beats = receive_until(client, lambda ms: sum(m["type"] == "worker" for m in ms) >= 2)
    finally:
        client.close()

    for task_id in task_ids:
        assert [m["status"] for m in messages if m.get("task_id") == task_id] == [
            "processing", "completed"]
    assert all(m["node"] == node and "tasks_processed" in m
               for m in messages + beats if m["type"] == "worker")


def test_the_fleet_feed_sends_every_workers_beats_and_no_task(api, server, tmp_path):
    client = connect(api, "/workers/updates")
    nodes = {f"test-ws-worker@{os.uname().nodename}", f"test-second@{os.uname().nodename}"}
    second = Worker(server.url, tmp_path / "second.log", "--concurrency", "1",
                    WORKER_HEARTBEAT_SECONDS=1)
    try:
        submit(api)
        messages = receive_until(client, lambda ms: nodes <= {m.get("node") for m in ms})
    finally:
        client.close()
        second.stop()

    assert {m["type"] for m in messages} == {"worker"}  # task events stay on /tasks/updates
    assert all({"id", "status", "busy", "load", "tasks_processed", "heartbeat_seconds"} <= set(m)
               for m in messages)


def test_a_worker_feed_says_when_its_worker_dies(api, server, tmp_path):
    doomed = Worker(server.url, tmp_path / "doomed.log", "--concurrency", "1",
                    WORKER_HEARTBEAT_SECONDS=1)
    node = f"test-doomed@{os.uname().nodename}"
    try:
        client = connect(api, f"/worker/{node}")
        try:
            assert json.loads(client.receive(timeout=10))["status"] in ("idle", "active")
            doomed.kill()  # SIGKILL, pool and all: no last beat
            gone = receive_until(client, lambda ms: any(
                m["type"] == "worker" and m["status"] == "offline" for m in ms))
        finally:
            client.close()
    finally:
        doomed.stop()

    assert gone[-1] == {"type": "worker", "id": node, "status": "offline"}


def test_sockets_get_a_close_frame_when_the_api_stops(server, tmp_path):
    api = APIServer(server.url, tmp_path / "stopping.log", **API_SETTINGS)
    try:
        client = connect(api)
        os.killpg(api.process.pid, signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                assert client.receive(timeout=10) is not None or not client.connected
        assert closed.value.reason == 1001  # going away
        # gunicorn exits once the sockets are closed, within its graceful timeout.
        assert api.process.wait(20) == 0
    finally:
        api.stop()
