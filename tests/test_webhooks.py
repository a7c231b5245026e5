"""Webhooks end to end: a real receiver, a real webhook worker, the real analysis worker.

The receiver is an ``http.server`` on 127.0.0.1 that answers each path by a script (500,
hang past the timeout, 200), so the platform runs with ``WEBHOOK_ALLOW_PRIVATE=1`` here;
the tests of the address checks run with it unset.
"""
import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import redis as redis_py

import settings
from conftest import (
    OPERATOR_TOKEN,
    Worker,
    bearer,
    error_of,
    make_app,
    store_task,
    submission,
    wait_until,
)
from tasks import keys
from tasks.connections import connect
from tasks.registry import NewTask, TaskRegistry, new_task_id
from tasks.webhooks import signing
from tasks.webhooks.dispatcher import Dispatcher
from tasks.webhooks.store import MAX_SUBSCRIPTIONS, WebhookStore

TIMEOUT_SECONDS = 1
HANG_SECONDS = 3  # longer than the delivery timeout
WEBHOOK_ENV = {"WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
               "WEBHOOK_BACKOFF_SECONDS": "0.5", "WEBHOOK_MAX_ATTEMPTS": "4",
               "WEBHOOK_MAX_IN_FLIGHT_PER_HOST": "2"}
OUTBOX_DATABASE = 5  # no dispatcher reads it: the tests look at the outbox itself
STRICT_DATABASE = 6  # a webhook worker without WEBHOOK_ALLOW_PRIVATE


class Receiver:
    """A real HTTP server; each path answers by its script, whose last step repeats."""

    def __init__(self):
        self.requests: list[SimpleNamespace] = []
        self.scripts: dict[str, list] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(SimpleNamespace(
                    path=self.path, headers=dict(self.headers), body=body,
                    at=time.monotonic(), wall=time.time()))
                script = receiver.scripts.get(self.path, [200])
                step = script.pop(0) if len(script) > 1 else script[0]
                if step == "hang":
                    time.sleep(HANG_SECONDS)
                    step = 200
                try:
                    self.send_response(step)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the platform gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def received(self, path: str) -> list[SimpleNamespace]:
        return [r for r in list(self.requests) if r.path == path]


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def dead_receiver():
    """Another host (port): one that hangs on every request."""
    server = Receiver()
    server.scripts["/dead"] = ["hang"]
    yield server
    server.server.shutdown()


def webhook_worker_on(url: str, log_path, **env) -> Worker:
    return Worker(url, log_path, "--queues", "webhooks", "--pool", "threads",
                  "--concurrency", "4", app_module="tasks.webhooks.celery_app", **env)


@pytest.fixture(scope="module")
def webhook_worker(redis_server, tmp_path_factory):
    worker = webhook_worker_on(redis_server.url,
                               tmp_path_factory.mktemp("logs") / "webhooks.log", **WEBHOOK_ENV)
    yield worker
    worker.stop()


@pytest.fixture
def api(redis_server, redis_client):
    return make_app(redis_server.url, WEBHOOK_ALLOW_PRIVATE=True).test_client()


def has_dispatcher_group(client) -> bool:
    try:
        return bool(client.xinfo_groups(keys.WEBHOOK_OUTBOX))
    except redis_py.ResponseError:  # no stream yet
        return False


@pytest.fixture
def dispatching(webhook_worker, redis_client):
    """The webhook worker's dispatcher reads the outbox again after the test's flush."""
    wait_until(lambda: has_dispatcher_group(redis_client), 10, message="the dispatcher")


def deliveries_of(client, path: str, token: str) -> list[dict]:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["deliveries"]


def test_a_callback_is_signed_retried_with_backoff_and_logged(api, worker, dispatching,
                                                              receiver):
    receiver.scripts["/flaky"] = [500, "hang", 200]
    secret = api.get("/callbacks/secret", headers=bearer()).get_json()["secret"]
    response = api.post("/task", json=submission(callback_url=receiver.url("/flaky")),
                        headers=bearer())
    assert response.status_code == 202
    task_id = response.get_json()["task_id"]
    assert api.get(f"/task/{task_id}", headers=bearer()).get_json()["callback_url"] == \
        receiver.url("/flaky")

    def delivered():
        log = deliveries_of(api, f"/task/{task_id}/deliveries", "channel-token-for-tests")
        return log if log and log[0]["outcome"] == "delivered" else None

    log = wait_until(delivered, 60, interval=0.2, message="the third attempt to succeed")
    requests = receiver.received("/flaky")
    assert len(requests) == 3
    assert [r.headers["X-Webhook-Attempt"] for r in requests] == ["1", "2", "3"]
    for request in requests:  # each attempt signed anew, each verifies with the owner's secret
        assert signing.verify(secret, request.body, request.headers["X-Signature"])
        assert request.headers["X-Webhook-Event"] == "task.completed"
    assert len({r.body for r in requests}) == 1  # the same event, the same id
    body = json.loads(requests[0].body)
    assert body["type"] == "task.completed" and body["task_id"] == task_id
    assert body["status"] == "completed" and body["result"]["sentiment"] == "positive"
    assert body["id"] == requests[0].headers["X-Webhook-Id"]
    assert body["id"] in {entry_id for entry_id, _ in connect_events(api)}

    first, second, third = sorted(log, key=lambda attempt: attempt["attempt"])
    assert (first["status_code"], first["error"], first["outcome"]) == (500, "HTTP 500",
                                                                        "retrying")
    assert (second["status_code"], second["error"], second["outcome"]) == (None, "timeout",
                                                                           "retrying")
    assert (third["status_code"], third["error"], third["outcome"]) == (200, None, "delivered")
    assert second["duration_ms"] >= TIMEOUT_SECONDS * 1000 * 0.9  # it waited out the timeout
    # Exponential backoff with jitter: 0.5 s doubled per attempt, between half and all of it.
    assert 0.25 <= first["next_attempt_in_seconds"] <= 0.5
    assert 0.5 <= second["next_attempt_in_seconds"] <= 1.0
    # Each next attempt comes its delay after the worker logged the last one (once it had
    # its answer or timed out). Not measured from the receiver's own arrival times: this
    # test's process can stall its server thread (a garbage collection), so an arrival may
    # be noted late, which made a gap look short.
    for attempt, next_request in ((first, requests[1]), (second, requests[2])):
        logged = datetime.fromisoformat(attempt["at"]).timestamp()
        assert next_request.wall >= logged + attempt["next_attempt_in_seconds"] - 0.05
    # Only the owner and operators see a task's deliveries.
    other = api.get(f"/task/{task_id}/deliveries", headers=bearer("another-channel-token"))
    error_of(other, "TASK_NOT_FOUND")
    assert deliveries_of(api, f"/task/{task_id}/deliveries", OPERATOR_TOKEN) == log


def connect_events(client):
    return client.application.extensions["redis"].xrange(keys.EVENTS)


def test_a_dead_endpoint_delays_neither_analysis_nor_a_healthy_receiver(
        api, worker, dispatching, receiver, dead_receiver):
    operator = bearer(OPERATOR_TOKEN)
    dead = api.post("/webhooks", json={"url": dead_receiver.url("/dead"),
                                       "events": ["task.completed"]}, headers=operator)
    healthy = api.post("/webhooks", json={"url": receiver.url("/healthy"),
                                          "events": ["task.completed", "task.failed"],
                                          "description": "CRM"}, headers=operator)
    assert dead.status_code == healthy.status_code == 201
    dead_id, created = dead.get_json()["id"], healthy.get_json()
    assert created["secret"].startswith("whsec_") and created["description"] == "CRM"
    listed = api.get("/webhooks", headers=operator).get_json()
    assert [w["id"] for w in listed["webhooks"]] == [dead_id, created["id"]]
    assert all("secret" not in w for w in listed["webhooks"])

    started = time.monotonic()
    task_ids = [api.post("/task", json=submission(f"Great service, thanks {i}!"),
                         headers=bearer()).get_json()["task_id"] for i in range(6)]
    wait_until(lambda: all(api.get(f"/task/{t}", headers=bearer()).get_json()["status"]
                           == "completed" for t in task_ids), 30, interval=0.1,
               message="the analysis of every task")
    analysed = time.monotonic() - started
    wait_until(lambda: {json.loads(r.body)["task_id"] for r in receiver.received("/healthy")}
               == set(task_ids), 30, interval=0.1, message="the healthy receiver")
    healthy_done = time.monotonic() - started
    dead_log = deliveries_of(api, f"/webhooks/{dead_id}/deliveries", OPERATOR_TOKEN)
    # The dead endpoint is still being retried when everything else is done.
    assert all(attempt["outcome"] != "failed" for attempt in dead_log)
    assert analysed < 15 and healthy_done < 20, (analysed, healthy_done)
    finished = {t: datetime.fromisoformat(api.get(f"/task/{t}", headers=bearer())
                                          .get_json()["finished_at"]).timestamp()
                for t in task_ids}
    lags = []
    for request in receiver.received("/healthy"):
        assert signing.verify(created["secret"], request.body, request.headers["X-Signature"])
        lags.append(request.wall - finished[json.loads(request.body)["task_id"]])
    # Each reached the healthy receiver sooner than one timeout after its task completed,
    # although each shared the worker's 4 threads with a delivery to a host that hangs: that
    # host holds at most WEBHOOK_MAX_IN_FLIGHT_PER_HOST (2) of them.
    print(f"analysis {analysed:.2f}s, healthy deliveries {healthy_done:.2f}s, "
          f"lag after completion max {max(lags):.2f}s")
    assert max(lags) < TIMEOUT_SECONDS, lags

    # Then the dead endpoint's deliveries end, each after WEBHOOK_MAX_ATTEMPTS timeouts.
    def all_failed():
        log = deliveries_of(api, f"/webhooks/{dead_id}/deliveries", OPERATOR_TOKEN)
        ended = {a["delivery_id"] for a in log if a["outcome"] == "failed"}
        return log if len(ended) == len(task_ids) else None

    log = wait_until(all_failed, 90, interval=0.5, message="the dead endpoint's deliveries")
    for attempt in log:
        assert attempt["error"] == "timeout" and attempt["status_code"] is None
        assert attempt["outcome"] == ("failed" if attempt["attempt"] == 4 else "retrying")
    assert len(log) == 4 * len(task_ids)

    deleted = api.delete(f"/webhooks/{dead_id}", headers=operator)
    assert deleted.get_json() == {"id": dead_id, "status": "deleted"}
    error_of(api.get(f"/webhooks/{dead_id}/deliveries", headers=operator), "WEBHOOK_NOT_FOUND")
    error_of(api.delete(f"/webhooks/{dead_id}", headers=operator), "WEBHOOK_NOT_FOUND")
    assert [w["id"] for w in api.get("/webhooks", headers=operator).get_json()["webhooks"]] \
        == [created["id"]]


def test_a_failed_task_reaches_its_subscribers(api, dispatching, receiver):
    created = api.post("/webhooks", json={"url": receiver.url("/failures"),
                                          "events": ["task.failed"]},
                       headers=bearer(OPERATOR_TOKEN)).get_json()
    registry = api.application.extensions["registry"]
    task_id = store_task(registry).task_id
    registry.claim([task_id], "test-worker")
    assert registry.fail(task_id, "ANALYSIS_FAILED", "ValueError")
    [request] = wait_until(lambda: receiver.received("/failures"), 30,
                           message="the failure's delivery")
    assert signing.verify(created["secret"], request.body, request.headers["X-Signature"])
    body = json.loads(request.body)
    assert (body["type"], body["task_id"], body["status"]) == ("task.failed", task_id, "failed")
    assert body["error"] == {"code": "ANALYSIS_FAILED", "message": "ValueError"}
    assert "result" not in body


@pytest.fixture
def outbox_registry(redis_server):
    client = connect(redis_server.database(OUTBOX_DATABASE))
    client.flushdb()
    yield TaskRegistry.from_settings(client, settings.load())
    client.flushdb()


def finish(registry: TaskRegistry, fail: bool = False, channel: str = "chat",
           result: dict | None = None, **fields) -> str:
    task = NewTask(new_task_id(), channel, "normal", {"text": "Fine.", "owner": "o1", **fields})
    registry.accept([task], [("nowhere", "m")], [0])
    registry.claim([task.task_id], "test-worker")
    if fail:
        registry.fail(task.task_id, "ANALYSIS_FAILED", "boom")
    else:
        registry.complete({task.task_id: result or {"sentiment": "neutral", "scores": {}}})
    return task.task_id


def test_only_events_someone_listens_to_enter_the_outbox(outbox_registry):
    client = outbox_registry.client
    finish(outbox_registry)
    finish(outbox_registry, fail=True)
    assert client.xlen(keys.WEBHOOK_OUTBOX) == 0  # no callback, no subscription: nothing
    with_callback = finish(outbox_registry, callback_url="https://cb.example/in")
    [(_, entry)] = client.xrange(keys.WEBHOOK_OUTBOX)
    assert (entry["kind"], entry["callback"], entry["owner"]) == (
        "task.completed", "https://cb.example/in", "o1")
    assert json.loads(entry["event"])["task_id"] == with_callback
    assert entry["event_id"] in {entry_id for entry_id, _ in client.xrange(keys.EVENTS)}

    store = WebhookStore(client, 60)
    subscription = store.subscribe("https://crm.example/in", ["task.failed"])
    assert client.smembers(keys.WEBHOOK_EVENTS) == {"task.failed"}
    finish(outbox_registry)  # a completion still interests nobody
    assert client.xlen(keys.WEBHOOK_OUTBOX) == 1
    failed = finish(outbox_registry, fail=True)
    last = client.xrange(keys.WEBHOOK_OUTBOX)[-1][1]
    assert (last["kind"], json.loads(last["event"])["task_id"]) == ("task.failed", failed)
    assert "callback" not in last
    assert store.unsubscribe(subscription["id"])
    assert client.smembers(keys.WEBHOOK_EVENTS) == set()


def test_entries_a_dead_dispatcher_left_pending_are_claimed_and_dispatched(outbox_registry):
    client = outbox_registry.client
    store = WebhookStore(client, 60)
    store.subscribe("https://crm.example/in", ["task.completed"])
    published: list[dict] = []
    alive = Dispatcher(store, published.append, "alive", claim_idle_ms=0)
    alive.ensure_group()
    done = [finish(outbox_registry) for _ in range(3)]
    # A dispatcher reads the entries, then dies before it queued their deliveries.
    client.xreadgroup(keys.WEBHOOK_OUTBOX_GROUP, "dead", {keys.WEBHOOK_OUTBOX: ">"})
    assert client.xpending(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_OUTBOX_GROUP)["pending"] == 3
    assert alive.run_once(block_ms=10) == 3
    assert [d["task_id"] for d in published] == done
    assert client.xpending(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_OUTBOX_GROUP)["pending"] == 0
    assert client.xlen(keys.WEBHOOK_OUTBOX) == 0


def test_a_url_that_turned_internal_is_refused_at_delivery(redis_server, receiver, tmp_path):
    """The subscription was accepted; by delivery time its host resolves to loopback."""
    client = connect(redis_server.database(STRICT_DATABASE))
    client.flushdb()
    registry = TaskRegistry.from_settings(client, settings.load())
    store = WebhookStore(client, 60)
    subscription = store.subscribe(receiver.url("/internal"), ["task.completed"])
    worker = webhook_worker_on(redis_server.database(STRICT_DATABASE),
                               tmp_path / "strict-webhooks.log", WEBHOOK_MAX_ATTEMPTS="4")
    try:
        finish(registry)
        log_key = keys.webhook_deliveries(subscription["id"])
        [attempt] = wait_until(lambda: store.attempts(log_key), 30, message="the attempt")
    finally:
        worker.stop()
        client.flushdb()
    assert attempt["outcome"] == "failed" and attempt["attempt"] == 1  # never retried
    assert attempt["error"].startswith("refused: resolves to a loopback address")
    assert receiver.received("/internal") == []


INTERNAL_URLS = ["http://127.0.0.1:8080/hook", "http://10.20.30.40/hook",
                 "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/hook",
                 "http://localhost:8080/hook"]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_callback_urls_are_refused_at_submission(client, url):
    response = client.post("/task", json=submission(callback_url=url), headers=bearer())
    error = error_of(response, "URL_NOT_ALLOWED")
    assert "resolves to a" in error["details"]["data.callback_url"]
    subscribe = client.post("/webhooks", json={"url": url, "events": ["task.failed"]},
                            headers=bearer(OPERATOR_TOKEN))
    assert "resolves to a" in error_of(subscribe, "URL_NOT_ALLOWED")["details"]["url"]


def test_a_batch_refuses_only_its_items_with_internal_callbacks(client):
    response = client.post("/tasks", json={"tasks": [
        submission(callback_url="http://10.0.0.1/x"), submission()]}, headers=bearer())
    assert response.status_code == 202
    refused, accepted = response.get_json()["tasks"]
    assert refused["error"]["code"] == "URL_NOT_ALLOWED"
    assert accepted["status"] == "accepted"


@pytest.mark.parametrize("url, message", [
    ("ftp://example.com/x", "Not an http or https URL."),
    ("/relative/path", "Not an http or https URL."),
    ("https://user:pass@example.com/x", "Credentials in the URL are not supported."),
    ("https://example.com/" + "a" * 2100, "Longer than 2048 characters."),
])
def test_malformed_callback_urls_are_invalid_input(client, url, message):
    response = client.post("/task", json=submission(callback_url=url), headers=bearer())
    assert error_of(response, "INVALID_INPUT")["details"] == {"data.callback_url": message}


def test_webhook_management_needs_an_operator_and_valid_events(client):
    body = {"url": "https://crm.example.com/in", "events": ["task.completed"]}
    error_of(client.post("/webhooks", json=body, headers=bearer()), "FORBIDDEN")
    error_of(client.get("/webhooks", headers=bearer()), "FORBIDDEN")
    invalid = client.post("/webhooks", json={**body, "events": ["task.deleted"]},
                          headers=bearer(OPERATOR_TOKEN))
    assert "events.0" in error_of(invalid, "INVALID_INPUT")["details"]
    empty = client.post("/webhooks", json={**body, "events": []}, headers=bearer(OPERATOR_TOKEN))
    error_of(empty, "INVALID_INPUT")


def test_subscriptions_stop_at_the_limit_until_one_is_deleted(api):
    operator = bearer(OPERATOR_TOKEN)
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["task.failed"]}
    made = [api.post("/webhooks", json=body, headers=operator) for _ in range(MAX_SUBSCRIPTIONS)]
    assert {response.status_code for response in made} == {201}

    error_of(api.post("/webhooks", json=body, headers=operator), "WEBHOOK_LIMIT")
    deleted = api.delete(f"/webhooks/{made[0].get_json()['id']}", headers=operator)
    assert deleted.get_json() == {"id": made[0].get_json()["id"], "status": "deleted"}
    assert api.post("/webhooks", json=body, headers=operator).status_code == 201


def test_each_token_has_its_own_callback_secret_until_it_rotates_it(client):
    mine = client.get("/callbacks/secret", headers=bearer()).get_json()["secret"]
    assert client.get("/callbacks/secret", headers=bearer()).get_json()["secret"] == mine
    theirs = client.get("/callbacks/secret",
                        headers=bearer("another-channel-token")).get_json()["secret"]
    assert theirs != mine
    rotated = client.post("/callbacks/secret", headers=bearer()).get_json()["secret"]
    assert rotated != mine
    assert client.get("/callbacks/secret", headers=bearer()).get_json()["secret"] == \
        rotated


NEGATIVE = {"sentiment": "negative", "document_score": -0.9}


def test_an_escalation_reaches_only_the_subscriptions_that_want_escalations(outbox_registry):
    from tasks.webhooks.events import deliveries

    client = outbox_registry.client
    # A callback is told of its task's completion, never of its escalation.
    finish(outbox_registry, channel="voice", result=NEGATIVE, callback_url="https://cb.example/")
    assert [entry["kind"] for _, entry in client.xrange(keys.WEBHOOK_OUTBOX)] == [
        "task.completed"]
    client.delete(keys.WEBHOOK_OUTBOX)
    store = WebhookStore(client, 60)
    store.subscribe("https://crm.example/failed", ["task.failed"])
    wanted = store.subscribe("https://pager.example/esc", ["task.escalated"])
    task_id = finish(outbox_registry, channel="voice", result=NEGATIVE)
    [(entry_id, entry)] = client.xrange(keys.WEBHOOK_OUTBOX)  # the escalation only
    [delivery] = deliveries({**entry, "outbox_id": entry_id}, store.subscriptions())
    assert (delivery["webhook_id"], delivery["kind"]) == (wanted["id"], "task.escalated")
    body = json.loads(delivery["body"])
    assert (body["type"], body["task_id"], body["channel"]) == ("task.escalated", task_id,
                                                                "voice")
    assert [reason["rule"] for reason in body["reasons"]] == ["strongly_negative_channel"]
    assert body["id"] in {event_id for event_id, _ in client.xrange(keys.EVENTS)}


def test_an_escalated_voice_message_is_delivered_to_its_subscriber(api, worker, dispatching,
                                                                   receiver):
    created = api.post("/webhooks", json={"url": receiver.url("/escalations"),
                                          "events": ["task.escalated"]},
                       headers=bearer(OPERATOR_TOKEN)).get_json()
    text = "This is terrible. The worst, most awful service ever. I hate it!"
    task_id = api.post("/task", json=submission(text, channel="voice", customer_id="C7"),
                       headers=bearer()).get_json()["task_id"]
    [request] = wait_until(lambda: receiver.received("/escalations"), 30,
                           message="the escalation's delivery")
    assert signing.verify(created["secret"], request.body, request.headers["X-Signature"])
    assert request.headers["X-Webhook-Event"] == "task.escalated"
    body = json.loads(request.body)
    assert (body["task_id"], body["customer_id"], body["sentiment"]) == (task_id, "C7",
                                                                         "negative")
    assert "strongly_negative_channel" in [reason["rule"] for reason in body["reasons"]]
