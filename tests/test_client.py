"""The Python client end to end: gunicorn, a real Redis and a real Celery worker."""
import re
import socket
import threading
import time

import pytest
import requests

import settings
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    APIServer,
    bearer,
    free_port,
    store_task,
    wait_until,
)
from sentiment_client import APIError, Client, WaitTimeout
from sentiment_client.client import task_body
from tasks import keys
from tasks.analysis import polarity_scores
from tasks.registry import TaskRegistry


@pytest.fixture
def api(api_server, worker, redis_client):
    """The base URL of a running API whose worker serves an emptied Redis."""
    return api_server.url


def stored_tasks(redis_client) -> int:
    return sum(1 for _ in redis_client.scan_iter(keys.task("*")))


def test_submit_then_wait_by_polling_with_a_channel_token(api):
    text = "Great customer service experience!"
    with Client(api, CHANNEL_TOKEN) as client:
        accepted = client.submit(text, "chat", "high", customer_id="CUST123")
        # A channel token may not open the feed: "auto" falls back to polling.
        finished = client.wait([accepted["task_id"]], timeout=60)

    task = finished[accepted["task_id"]]
    assert accepted["status"] == "accepted" and accepted["queue_position"] >= 1
    assert task["status"] == "completed"
    assert task["result"]["scores"] == polarity_scores(text)
    assert task["result"]["sentiment"] == "positive"
    assert (task["channel"], task["priority"], task["customer_id"]) == ("chat", "high", "CUST123")


def test_polling_revalidates_with_the_etag(api):
    with Client(api, CHANNEL_TOKEN) as client:
        task_id = client.submit("Fine.", "email")["task_id"]
        client.wait([task_id], timeout=60, via="poll")
        etag = requests.get(f"{api}/task/{task_id}", headers=bearer(), timeout=5).headers["ETag"]

        unchanged = client.session.get(f"{api}/task/{task_id}", timeout=5,
                                       headers={"If-None-Match": etag})

    assert unchanged.status_code == 304


def test_a_channel_token_waits_on_the_feed_of_its_own_tasks(api):
    with Client(api, CHANNEL_TOKEN) as client:
        task_id = client.submit("Hello, thanks a lot!", "chat")["task_id"]
        finished = client.wait([task_id], timeout=60, via="feed")

    assert finished[task_id]["status"] == "completed"


def test_submit_many_splits_into_batches_and_waits_on_the_feed(api, redis_client):
    texts = [f"Message {n}: the agent was {'great' if n % 2 else 'awful'}" for n in range(25)]
    progress = []
    with Client(api, OPERATOR_TOKEN, batch_size=10) as client:
        answers = client.submit_many([{"text": t, "channel": "voice"} for t in texts],
                                     on_progress=progress.append)
        ids = [answer["task_id"] for answer in answers]
        finished = client.wait(ids, timeout=90, via="feed")

    assert progress == [10, 10, 5]  # three POST /tasks of at most 10 items
    assert len(set(ids)) == 25 and stored_tasks(redis_client) == 25
    assert list(finished) == ids
    for text, task_id in zip(texts, ids, strict=True):
        assert finished[task_id]["status"] == "completed"
        assert finished[task_id]["result"]["scores"] == polarity_scores(text)


def test_wait_on_the_feed_finds_tasks_that_finished_before_it_listened(api):
    with Client(api, OPERATOR_TOKEN) as client:
        task_id = client.submit("Thanks a lot!", "chat")["task_id"]
        client.wait([task_id], timeout=60, via="poll")

        finished = client.wait([task_id], timeout=10, via="feed")

    assert finished[task_id]["status"] == "completed"


def test_a_batch_item_the_api_refuses_comes_back_as_its_envelope(api):
    with Client(api, CHANNEL_TOKEN) as client:
        answers = client.submit_many([{"text": "Good", "channel": "chat"},
                                      {"text": "   ", "channel": "chat"}])

    assert answers[0]["status"] == "accepted"
    assert answers[1]["error"]["code"] == "INVALID_INPUT"
    assert "data.text" in answers[1]["error"]["details"]


def test_errors_carry_the_envelope(api):
    with Client(api, CHANNEL_TOKEN) as client, pytest.raises(APIError) as missing:
        client.get("task_unknown")

    assert (missing.value.status, missing.value.code) == (404, "TASK_NOT_FOUND")
    assert missing.value.details == {"task_id": "task_unknown"}
    assert missing.value.message
    assert missing.value.retry_after is None  # the limiter's Retry-After on a 404 means nothing
    assert re.fullmatch(r"[0-9a-f]{32}", missing.value.request_id)  # the client's own id
    with Client(api, "wrong-token") as client, pytest.raises(APIError) as refused:
        client.submit("Hello", "chat")
    assert refused.value.code == "UNAUTHORIZED"


@pytest.mark.parametrize("via", ["feed", "poll"])
def test_a_wait_that_runs_out_says_which_tasks_finished(api, redis_client, via):
    waiting = store_task(TaskRegistry.from_settings(redis_client, settings.load())).task_id
    with Client(api, OPERATOR_TOKEN) as client:
        done = client.submit("Lovely", "chat")["task_id"]
        client.wait([done], timeout=60)
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as timed_out:
            client.wait([done, waiting], timeout=1, via=via)

    assert time.monotonic() - started < 10
    assert list(timed_out.value.finished) == [done]
    assert timed_out.value.pending == [waiting]


@pytest.mark.parametrize("via", ["feed", "poll"])
def test_a_cancelled_task_ends_the_wait(api, redis_client, via):
    waiting = store_task(TaskRegistry.from_settings(redis_client, settings.load())).task_id
    with Client(api, OPERATOR_TOKEN) as client:
        threading.Timer(1.0, requests.delete, (f"{api}/task/{waiting}",),
                        {"headers": bearer(OPERATOR_TOKEN), "timeout": 5}).start()
        finished = client.wait([waiting], timeout=30, via=via)

    assert finished[waiting]["status"] == "cancelled"


def test_workers_and_health(api, worker):
    def session_worker_online(workers):
        return any(w["hostname"].startswith("test-session-worker@")
                   and w["status"] != "offline" for w in workers["workers"])

    with Client(api, CHANNEL_TOKEN) as client:
        # The database was just emptied: the worker reappears with its next heartbeat.
        wait_until(lambda: session_worker_online(client.workers()), 15,
                   message="the session worker's heartbeat")
        health = client.health()

    assert health["status"] in ("healthy", "degraded")
    assert health["components"]["redis"]["status"] == "up"
    assert health["components"]["workers"]["online"] >= 1


def test_connection_errors_are_retried_then_raised():
    client = Client(f"http://127.0.0.1:{free_port()}", CHANNEL_TOKEN, max_attempts=3,
                    backoff_base=0.05)
    with pytest.raises(requests.ConnectionError):
        client.get("task_x")

    assert client.retried["connection"] == 2


class Relay:
    """A TCP relay in front of the API whose connections a test can break.

    ``drop_first_answer``: the first request reaches the API and is acted upon, but its
    answer never reaches the client, as when a connection breaks after the server answered.
    """

    def __init__(self, upstream_port: int, drop_first_answer: bool = False):
        self.upstream_port = upstream_port
        self.drop_first_answer = drop_first_answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.open: list[socket.socket] = []
        self.request_ids: list[str] = []  # X-Request-ID of each connection's first request
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            downstream = _Recorder(downstream, self.request_ids)
            self.open += [downstream, upstream]
            if self.drop_first_answer and self.connections == 1:
                threading.Thread(target=self._drop_answer, args=(downstream, upstream),
                                 daemon=True).start()
                continue
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=_relay, args=(source, target), daemon=True).start()

    @staticmethod
    def _drop_answer(downstream, upstream) -> None:
        downstream.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request or not request.rstrip().endswith(b"}"):
            request += downstream.recv(65536)
        upstream.sendall(request)
        upstream.recv(65536)  # the API answered: the task exists
        downstream.close()
        upstream.close()

    def cut(self) -> None:
        """Break every open connection, as a network failure would."""
        for end in self.open:
            _shut(end)
        self.open.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


class _Recorder:
    """A socket that notes the X-Request-ID of the first request read from it."""

    def __init__(self, sock: socket.socket, request_ids: list[str]):
        self.sock, self.request_ids, self.first = sock, request_ids, True

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        if self.first and data:
            self.first = False
            found = re.search(rb"X-Request-ID: (\S+)", data, re.I)
            self.request_ids.append(found.group(1).decode() if found else None)
        return data

    def __getattr__(self, name):
        return getattr(self.sock, name)


def _relay(source, target) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _shut(source)
        _shut(target)


def _shut(end: socket.socket) -> None:
    try:
        end.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def test_a_submission_whose_answer_was_lost_is_retried_without_a_duplicate(api, api_server,
                                                                          redis_client):
    proxy = Relay(api_server.port, drop_first_answer=True)
    try:
        with Client(proxy.url, CHANNEL_TOKEN, backoff_base=0.05) as client:
            accepted = client.submit("Where is my parcel?", "email")
    finally:
        proxy.close()

    assert client.retried["connection"] == 1 and proxy.connections == 2
    assert stored_tasks(redis_client) == 1  # the retry replayed the first task
    stored = requests.get(f"{api}/task/{accepted['task_id']}", headers=bearer(), timeout=5)
    assert stored.status_code == 200
    # Both attempts were one request to the API's logs, which the task remembers.
    first, retry = proxy.request_ids
    assert first == retry == stored.json()["request_id"]


def events_until(feed, predicate, timeout: float = 60) -> list[dict]:
    """The feed's events up to the first one ``predicate`` accepts."""
    events, deadline = [], time.monotonic() + timeout
    while not events or not predicate(events[-1]):
        assert time.monotonic() < deadline, f"no such event; got {events}"
        event = feed.receive(timeout=1)
        if event is not None:
            events.append(event)
    return events


def test_the_feed_resumes_after_a_broken_connection_missing_nothing(api, api_server):
    relay = Relay(api_server.port)
    try:
        with Client(relay.url, OPERATOR_TOKEN) as client, client.updates() as feed:
            first = client.submit("Before the break", "chat")["task_id"]
            before = events_until(feed, lambda e: e.get("task_id") == first
                                  and e["status"] == "completed")
            relay.cut()
            # Finished while the feed was away: the resumed feed replays it.
            second = client.submit("During the break", "chat")["task_id"]
            client.wait([second], timeout=60, via="poll")
            after = events_until(feed, lambda e: e.get("task_id") == second
                                 and e["status"] == "completed")
            reconnections = feed.reconnections
    finally:
        relay.close()

    assert reconnections == 1
    assert [(e["task_id"], e["status"]) for e in after] == [
        (second, "queued"), (second, "processing"), (second, "completed")]
    ids = [e["id"] for e in before + after]
    assert len(ids) == len(set(ids))  # nothing twice


def test_a_feed_broken_before_any_event_says_it_may_have_missed_some(api, api_server):
    relay = Relay(api_server.port)
    try:
        with Client(relay.url, OPERATOR_TOKEN) as client, client.updates() as feed:
            relay.cut()
            event = feed.receive(timeout=10)
    finally:
        relay.close()

    assert event == {"type": "gap", "first_id": None}


@pytest.fixture(scope="module")
def limited_api(redis_server, tmp_path_factory):
    """An API whose tokens may make 5 requests per 10 seconds."""
    server = APIServer(redis_server.url, tmp_path_factory.mktemp("limited") / "gunicorn.log",
                       RATE_LIMIT="5/10 seconds")
    yield server.url
    server.stop()


def test_a_rate_limited_client_waits_as_told_and_creates_no_duplicates(limited_api, worker,
                                                                       redis_client):
    # Another program spends the token's window first.
    for _ in range(5):
        requests.get(f"{limited_api}/task/task_x", headers=bearer(), timeout=5)
    refused = requests.get(f"{limited_api}/task/task_x", headers=bearer(), timeout=5)
    assert refused.status_code == 429
    told = int(refused.headers["Retry-After"])

    with Client(limited_api, CHANNEL_TOKEN) as client:
        started = time.monotonic()
        first = client.submit("Order 0 arrived broken", "chat")
        waited = time.monotonic() - started
        # 6 items in one POST /tasks would cost more than a whole window: sent in pieces.
        answers = [first] + client.submit_many(
            [{"text": f"Order {n} arrived broken", "channel": "chat"} for n in range(1, 7)])
        finished = client.wait([a["task_id"] for a in answers], timeout=120)
        total = time.monotonic() - started

    assert client.retried[429] >= 1  # refused once, then waited as Retry-After said
    assert waited >= told - 1  # Retry-After is in whole seconds, the window may end sooner
    assert client.rate_limit == 5
    assert total > 10  # 7 submissions and 7 reads need at least three 10 s windows
    ids = [answer["task_id"] for answer in answers]
    assert len(set(ids)) == 7 and stored_tasks(redis_client) == 7
    assert all(task["status"] == "completed" for task in finished.values())


def test_message_fields_are_checked_before_anything_is_sent():
    with pytest.raises(ValueError, match="unknown message fields: colour"):
        task_body({"text": "x", "channel": "chat", "colour": "red"})
    assert task_body({"text": "x", "channel": "chat", "priority": None}) == {
        "type": "sentiment_analysis", "data": {"text": "x", "channel": "chat"}}


@pytest.fixture(scope="module")
def small_queue_api(redis_server, tmp_path_factory):
    """An API that accepts no more than 3 waiting tasks."""
    server = APIServer(redis_server.url, tmp_path_factory.mktemp("small") / "gunicorn.log",
                       QUEUE_CAPACITY=3)
    yield server.url
    server.stop()


def test_batch_items_refused_for_a_full_queue_are_sent_again(small_queue_api, worker,
                                                            redis_client):
    operator = bearer(OPERATOR_TOKEN)
    requests.post(f"{small_queue_api}/channels/email/pause", headers=operator, timeout=5)
    answered = []

    def resume_once_refused(count: int) -> None:
        answered.append(count)
        if len(answered) == 1:  # the first answer: 3 waiting, 2 refused; now make room
            requests.post(f"{small_queue_api}/channels/email/resume", headers=operator,
                          timeout=5)

    started = time.monotonic()
    with Client(small_queue_api, CHANNEL_TOKEN, backoff_base=2.0) as client:
        answers = client.submit_many([{"text": f"Mail {n}", "channel": "email"}
                                      for n in range(5)], on_progress=resume_once_refused)
        finished = client.wait([answer["task_id"] for answer in answers], timeout=60)

    assert answered[0] == 3 and sum(answered) == 5
    assert time.monotonic() - started < 40  # backoff (2 s base), not the limiter's Retry-After
    assert len({answer["task_id"] for answer in answers}) == 5
    assert stored_tasks(redis_client) == 5
    assert all(task["status"] == "completed" for task in finished.values())
