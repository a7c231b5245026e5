"""WebSocket routes: every task's state changes, and one worker's live feed.

Both are pushed from the process's single event-stream reader (``tasks.event_feed``); a
client that falls ``QUEUE_SIZE`` events behind is closed with 1013 and resumes with
``?last_event_id=``. Each open socket holds two greenlets of its gunicorn process (the
route's and simple-websocket's reader) and gets every event fanned out to it, so a process
holds at most ``WS_MAX_CONNECTIONS``, fewer than its ``WEB_CONNECTIONS``: HTTP requests
keep room.
"""
import json
import logging
import re
import threading
import time
from collections import OrderedDict

from flask import Blueprint, Flask, current_app, g, request
from flask_sock import Sock

from app import formatting
from app.auth import identify, public
from app.errors import APIError
from app.tasks import escalation
from tasks.event_feed import TASKS, WORKERS, Event, EventFeed, stream_id
from workers import state
from workers.heartbeat import OFFLINE_AFTER_BEATS

logger = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
sock = Sock()

BEARER_PROTOCOL = "bearer"  # Sec-WebSocket-Protocol: bearer, <token>
PING_SECONDS = 25  # server pings find dead clients behind silent proxies
MAX_MESSAGE_BYTES = 4096  # clients have nothing to say beyond a small control message
POLL_SECONDS = 0.5  # how soon a socket notices shutdown or an idle worker going silent
RECENT_TASKS = 10_000  # task ids a worker feed remembers, to pass their final events
CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER = 1001, 1013
_LAST_EVENT_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")


@bp.before_request
def _admit():
    """Authenticate before the handshake, so a refusal is an ordinary HTTP error."""
    principal = identify(_presented_credentials())  # or the dashboard's session, same origin
    if principal is None:
        raise APIError("UNAUTHORIZED", "A valid bearer token is required: the Authorization "
                       "header, Sec-WebSocket-Protocol: bearer, <token>, or a dashboard session.",
                       headers={"WWW-Authenticate": 'Bearer realm="sentiment-platform"'})
    g.principal = principal
    # A channel token follows its own tasks; worker feeds carry every channel's tasks.
    if not principal.is_operator and request.endpoint != "ws.task_updates":
        raise APIError("FORBIDDEN", "Worker feeds need an operator token.")
    last_id = request.args.get("last_event_id")
    if last_id is not None and not _LAST_EVENT_ID.match(last_id):
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       {"last_event_id": "A stream id such as 1700000000000-0."})
    if request.endpoint == "ws.worker_feed":
        worker_id = request.view_args["worker_id"]
        g.worker = state.find(state.read_workers(
            current_app.extensions["redis"], current_app.config["WORKER_FORGET_SECONDS"]),
            worker_id)
        if g.worker is None:
            raise APIError("WORKER_NOT_FOUND", f"No worker {worker_id} is known.",
                           {"worker_id": worker_id})
    if not current_app.extensions["ws_slots"].acquire(blocking=False):
        raise APIError("WEBSOCKET_LIMIT", "This process holds all the sockets it may.",
                       {"limit": current_app.extensions["ws_limit"]},
                       headers={"Retry-After": "1"})
    g.ws_slot = True
    # Subscribed before the handshake: an event written once the client is connected is
    # never missed because the handler had not started yet.
    g.follow = WorkerFilter(g.worker) if request.endpoint == "ws.worker_feed" else None
    stream = WORKERS if request.endpoint == "ws.worker_updates" else TASKS
    g.visible = visible_to(principal, stream)
    g.subscription = _feed().subscribe(g.follow or g.visible)


@bp.teardown_request
def _release(_exc):
    subscription = g.pop("subscription", None)
    if subscription is not None:
        _feed().unsubscribe(subscription)
    if g.pop("ws_slot", False):
        current_app.extensions["ws_slots"].release()


@sock.route("/tasks/updates", bp=bp)
@public  # authenticated by _admit, which also reads Sec-WebSocket-Protocol
def task_updates(ws):
    """Every state change of the tasks this token may read (an operator: all), as JSON,
    from ``?last_event_id=`` on or from now.

    Messages: ``{"type": "task", "id": "1700000000000-0", "task_id": "task_...",
    "status": "completed", "channel": "chat", "priority": "high", "customer_id": "C1",
    "request_id": "test-123", "at": "2026-11-29T14:18:56.087+00:00", "result": {...}}``
    (``request_id``: the submitting request's ``X-Request-ID``); ``{"type": "escalation",
    "id": "...", "task_id": "task_...", "channel": "voice", "priority": "high",
    "customer_id": "C1", "sentiment": "negative", "compound": -0.83, "reasons": [{"rule":
    "strongly_negative_channel", "message": "..."}], "at": "..."}`` after the completion of
    a task that escalated; ``{"type": "gap", "first_id": "..."}`` when events after
    ``last_event_id`` were trimmed from the stream.
    """
    feed = _feed()
    last_sent = request.args.get("last_event_id")
    if last_sent is not None:
        last_sent = _replay(ws, feed, last_sent, g.visible)
    _pump(ws, feed, g.subscription, last_sent)


@sock.route("/worker/<worker_id>", bp=bp)
@public  # authenticated by _admit
def worker_feed(ws, worker_id: str):
    """The tasks worker {id} starts and finishes, and its heartbeats, as JSON.

    Messages: ``{"type": "worker", "id": 3, "node": "worker-3@host", "status": "active",
    "busy": 1, "load": 0.5, "tasks_processed": 42, ...}`` on connect and each beat;
    ``{"type": "task", "status": "processing", "worker": "worker-3@host", ...}`` when it
    starts a task and ``"completed"``/``"failed"`` when it finishes one (same fields as
    ``/tasks/updates``).
    """
    ws.send(json.dumps(present_worker(g.worker)))  # found by _admit before the handshake
    _pump(ws, _feed(), g.subscription, None, g.follow)


@sock.route("/workers/updates", bp=bp)
@public  # authenticated by _admit
def worker_updates(ws):
    """Every worker's heartbeats, as JSON: one socket for a whole fleet's live state.

    Messages: ``{"type": "worker", "id": 3, "node": "worker-3@host", "status": "active",
    "busy": 1, "load": 0.5, "tasks_processed": 42, "heartbeat_seconds": 2.0, ...}``, one per
    beat of each worker; a worker whose beats stop is offline 3 beats after its last.
    """
    _pump(ws, _feed(), g.subscription, None)


class WorkerFilter:
    """Which events belong to one worker; runs on the feed's reader thread."""

    def __init__(self, worker: state.WorkerState):
        self.public_id = worker.id
        self.worker_id = str(worker.id)
        self.nodes = {worker.node}
        self.interval = 2.0
        self.last_beat = time.monotonic()
        self.status = worker.status
        self._tasks: OrderedDict[str, None] = OrderedDict()

    def __call__(self, event: Event) -> bool:
        body = event.body
        if event.stream == WORKERS:
            if str(body.get("id")) != self.worker_id:
                return False
            self.nodes.add(body["node"])
            self.last_beat = time.monotonic()
            return True
        task_id = body.get("task_id")
        if body.get("worker") in self.nodes:
            self._tasks[task_id] = None
            while len(self._tasks) > RECENT_TASKS:
                self._tasks.popitem(last=False)
            return True
        # Final events may not name the worker; they follow its "processing" event.
        return body.get("status") in ("completed", "failed") and task_id in self._tasks

    def silent(self) -> bool:
        """True once the worker missed enough beats to count as offline."""
        return time.monotonic() - self.last_beat > OFFLINE_AFTER_BEATS * self.interval


def present(event: Event) -> dict:
    """A stream event as the socket sends it."""
    body = dict(event.body)
    body.pop("owner", None)  # which token submitted the task: for filtering, not for show
    body["at"] = formatting.timestamp(body.get("at"))
    if event.stream == WORKERS:
        body["status"] = body.pop("state", None)
        return {"type": "worker", "id": body.pop("id"), **body}
    if isinstance(body.get("result"), dict):  # the same escalation fields as GET /task
        body["result"] = {**body["result"], **escalation(body["result"])}
    # Task stream entries are state changes ("task") unless they say otherwise
    # ("escalation", written by the completion that escalated).
    return {"type": body.pop("type", "task"), "id": event.id, **body}


def present_worker(worker: state.WorkerState) -> dict:
    """A worker's current state, sent when a worker feed opens."""
    return {"type": "worker", "id": worker.id, "node": worker.node, "status": worker.status,
            "busy": worker.busy, "load": worker.load, "tasks_processed": worker.tasks_processed,
            "concurrency": worker.concurrency, "pid": worker.pid,
            "at": formatting.timestamp(worker.last_seen)}


def visible_to(principal, stream: str):
    """Which events of ``stream`` a socket of ``principal`` gets: an operator every one, a
    channel token those of the tasks it submitted (each task event names its ``owner``)."""
    if principal.is_operator:
        return lambda event: event.stream == stream
    return lambda event: event.stream == stream and event.body.get("owner") == principal.id


def _replay(ws, feed: EventFeed, last_id: str, visible) -> str:
    """Send what the stream holds after ``last_id``; returns the last id read."""
    first = feed.first_id(TASKS)
    if first is not None and stream_id(first) > stream_id(last_id):
        # Possibly trimmed events in between: say so rather than pretend nothing was lost.
        ws.send(json.dumps({"type": "gap", "first_id": first}))
    while not feed.closing.is_set():
        events = feed.replay(TASKS, last_id)
        if not events:
            return last_id
        for event in events:
            if visible(event):
                ws.send(json.dumps(present(event)))
        last_id = events[-1].id
    return last_id


def _pump(ws, feed: EventFeed, subscription, last_sent: str | None,
          follow: WorkerFilter | None = None) -> None:
    """Forward the subscription's events until the client leaves or the server stops."""
    seen = stream_id(last_sent) if last_sent else None
    while ws.connected:
        if feed.closing.is_set():
            ws.close(reason=CLOSE_GOING_AWAY, message="server shutting down")
            return
        if subscription.overflowed:
            ws.close(reason=CLOSE_TRY_AGAIN_LATER,
                     message="too slow: reconnect with last_event_id")
            return
        _discard_input(ws)
        event = subscription.get(POLL_SECONDS)
        if event is None:
            if follow is not None and follow.status != state.OFFLINE and follow.silent():
                follow.status = state.OFFLINE
                ws.send(json.dumps({"type": "worker", "id": follow.public_id,
                                    "status": state.OFFLINE}))
            continue
        if event.stream == TASKS and seen is not None:
            if stream_id(event.id) <= seen:
                continue  # already sent by the replay
            seen = None
        if follow is not None and event.stream == WORKERS:
            follow.interval = float(event.body.get("heartbeat_seconds") or follow.interval)
            follow.status = event.body.get("state", follow.status)
        ws.send(json.dumps(present(event)))


def _discard_input(ws) -> None:
    # Nothing is expected from clients; drain so their messages do not pile up in memory.
    while ws.receive(timeout=0) is not None:
        pass


def _presented_credentials() -> str:
    header = request.headers.get("Authorization", "")
    if header:
        return header
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if BEARER_PROTOCOL in offered and offered.index(BEARER_PROTOCOL) + 1 < len(offered):
        return f"Bearer {offered[offered.index(BEARER_PROTOCOL) + 1]}"
    return ""


class _SocketReaderThread(threading.Thread):
    """simple-websocket's per-socket reader, as a daemon thread."""

    # Its default thread is not a daemon and blocks in recv until the peer closes: a client
    # that never answers our close frame would hold the exiting process for gunicorn's whole
    # graceful timeout.

    def __init__(self, *args, **kwargs):
        super().__init__(*args, daemon=True, **kwargs)


def _feed() -> EventFeed:
    return current_app.extensions["event_feed"]


def close_all(app: Flask) -> None:
    """Graceful shutdown: every socket of this process sends its close frame and ends, and
    every request waiting for a task answers."""
    for listener in ("event_feed", "task_waits"):
        if listener in app.extensions:
            app.extensions[listener].close()


def init_app(app: Flask) -> None:
    """The event feed, the socket limit of this process, and the WebSocket routes."""
    limit = min(app.config["WS_MAX_CONNECTIONS"], max(app.config["WEB_CONNECTIONS"] - 1, 1))
    if limit < app.config["WS_MAX_CONNECTIONS"]:
        logger.warning("WS_MAX_CONNECTIONS lowered to %d: WEB_CONNECTIONS is %d", limit,
                       app.config["WEB_CONNECTIONS"])
    app.extensions["ws_limit"] = limit
    app.extensions["ws_slots"] = threading.BoundedSemaphore(limit)
    app.extensions["event_feed"] = EventFeed(app.extensions["redis"])
    app.config.setdefault("SOCK_SERVER_OPTIONS", {
        "subprotocols": [BEARER_PROTOCOL], "ping_interval": PING_SECONDS,
        "max_message_size": MAX_MESSAGE_BYTES, "thread_class": _SocketReaderThread})
    sock.init_app(app)
    app.register_blueprint(bp)
