"""The task update feed (WebSocket ``/tasks/updates``), resumed after every disconnection.

The server keeps its events in a Redis stream: a client that reconnects with
``?last_event_id=`` gets everything after the last event it saw, so a dropped connection,
a server restart or a 1013 ("too slow") close loses nothing.
"""
import json
import threading
import time
from urllib.parse import quote, urlsplit, urlunsplit

from simple_websocket import Client as WebSocket
from simple_websocket import ConnectionClosed, ConnectionError

from sentiment_client.errors import APIError
from sentiment_client.retry import backoff_delay

PATH = "/tasks/updates"
BEARER_PROTOCOL = "bearer"  # Sec-WebSocket-Protocol: bearer, <token>
# Handshake refusals, named as the API's envelope names them (the client cannot read the body).
REFUSALS = {400: "INVALID_INPUT", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
            404: "WORKER_NOT_FOUND", 503: "WEBSOCKET_LIMIT"}
RETRYABLE_REFUSALS = frozenset({502, 503, 504})


class _DaemonThread(threading.Thread):
    # simple-websocket's reader thread; a daemon, so a program that forgets to close exits.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, daemon=True, **kwargs)


def feed_url(base_url: str, last_event_id: str | None = None) -> str:
    """``ws(s)://`` URL of the feed for an ``http(s)://`` API base URL."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = f"last_event_id={quote(last_event_id)}" if last_event_id else ""
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + PATH, query, ""))


class UpdateFeed:
    """Events of ``/tasks/updates`` as dicts, reconnecting with the last event id seen."""

    def __init__(self, base_url: str, token: str, last_event_id: str | None = None,
                 max_attempts: int = 6, backoff_base: float = 0.5, backoff_cap: float = 30.0):
        self.base_url = base_url
        self.token = token
        self.last_event_id = last_event_id
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.reconnections = 0
        self._closes_in_a_row = 0  # without an event in between: the server keeps dropping us
        self._socket = None

    def connect(self) -> "UpdateFeed":
        """Open the socket; a refusal that retrying cannot mend raises ``APIError``."""
        for attempt in range(self.max_attempts):
            try:
                self._socket = WebSocket.connect(
                    feed_url(self.base_url, self.last_event_id),
                    subprotocols=[BEARER_PROTOCOL, self.token], thread_class=_DaemonThread)
                return self
            except ConnectionError as exc:
                status = exc.status_code
                if status not in RETRYABLE_REFUSALS or attempt + 1 == self.max_attempts:
                    raise APIError(status or 0, REFUSALS.get(status, f"HTTP_{status}"),
                                   f"The update feed refused the connection ({status}).") from None
            except OSError:  # refused, reset: the server restarts or is away
                if attempt + 1 == self.max_attempts:
                    raise
            time.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap))
        raise AssertionError("unreachable")  # the loop returns or raises

    def receive(self, timeout: float | None = None) -> dict | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._socket is None:
                if self._closes_in_a_row > 1:
                    time.sleep(backoff_delay(self._closes_in_a_row - 2, self.backoff_base,
                                             self.backoff_cap))
                self.connect()
                if self.last_event_id is None and self._closes_in_a_row:
                    # Dropped before any event named a position to resume from: what
                    # happened meanwhile is not replayed. Say so, as the server does.
                    return {"type": "gap", "first_id": None}
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                message = self._socket.receive(timeout=remaining)
            except ConnectionClosed:  # 1001 shutdown, 1013 too slow, a dropped line: resume
                self._socket = None
                self.reconnections += 1
                self._closes_in_a_row += 1
                continue
            if message is None:
                return None
            self._closes_in_a_row = 0
            event = json.loads(message)
            if event.get("type") != "gap" and "id" in event:  # task changes, escalations
                self.last_event_id = event["id"]
            return event

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            except ConnectionClosed:
                pass
            self._socket = None

    def __enter__(self) -> "UpdateFeed":
        return self.connect()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __iter__(self):
        while True:
            event = self.receive()
            if event is not None:
                yield event
