"""One reader of the event streams per process, fanning events out to its subscribers.

A thread reads the task stream (``keys.EVENTS``) and the worker stream
(``keys.WORKER_EVENTS``) with one blocking ``XREAD`` and offers each event to every
subscriber's bounded queue. A subscriber that does not keep up is marked ``overflowed``
instead of slowing the reader: the others never wait for it, and it can reconnect from the
last event id it saw, since the stream still holds the events (``replay``). The reader stops
once nobody has listened for ``IDLE_STOP_SECONDS``: a process pays for reading every event
only while a socket listens.
"""
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from tasks import keys
from tasks.process_thread import ProcessThread

logger = logging.getLogger(__name__)

TASKS, WORKERS = "tasks", "workers"
STREAMS = {TASKS: keys.EVENTS, WORKERS: keys.WORKER_EVENTS}
BLOCK_MS = 1000  # below the client's socket timeout (tasks.connections)
READ_COUNT = 1000
REPLAY_PAGE = 500
QUEUE_SIZE = 1000  # events a subscriber may lag behind before it is dropped
IDLE_STOP_SECONDS = 2  # a restart costs two XREVRANGEs: cheap against reading for nobody


@dataclass(frozen=True)
class Event:
    stream: str  # TASKS or WORKERS
    id: str  # the Redis stream id: resume from it
    body: dict


def stream_id(text: str) -> tuple[int, int]:
    """A stream id as a comparable pair; ``ValueError`` when it is not one."""
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)


class Subscription:
    """One client's bounded queue of events."""

    def __init__(self, accepts: Callable[[Event], bool], size: int = QUEUE_SIZE):
        self.accepts = accepts
        self.queue: queue.Queue[Event] = queue.Queue(size)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        """Called by the reader: never blocks."""
        if self.overflowed or not self.accepts(event):
            return
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.overflowed = True

    def get(self, timeout: float) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


class EventFeed:
    """The process's single reader of the event streams and its subscribers."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.closing = threading.Event()
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._reader = ProcessThread(self._run, "sp-event-feed")

    @property
    def connections(self) -> int:
        return len(self._subscribers)

    @property
    def reading(self) -> bool:
        """Whether this process's reader runs (it stops when nobody listens)."""
        return self._reader.running

    def subscribe(self, accepts: Callable[[Event], bool]) -> Subscription:
        """A new subscriber: it gets every event the reader reads from now on."""
        subscription = Subscription(accepts)
        with self._lock:
            self._subscribers.add(subscription)
            self._ensure_reader()
        self._ready.wait(5)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def replay(self, stream: str, after_id: str, count: int = REPLAY_PAGE) -> list[Event]:
        """Up to ``count`` events stored after ``after_id``, oldest first."""
        entries = self.client.xrange(STREAMS[stream], f"({after_id}", "+", count=count)
        return [_event(stream, entry_id, fields) for entry_id, fields in entries]

    def first_id(self, stream: str) -> str | None:
        """The oldest event the stream still holds."""
        entries = self.client.xrange(STREAMS[stream], "-", "+", count=1)
        return entries[0][0] if entries else None

    def close(self) -> None:
        """Shutting down: subscribers see ``closing`` and say goodbye to their clients."""
        self.closing.set()

    def _ensure_reader(self) -> None:
        # Called holding the lock, which the reader takes to stop: a listener added here is
        # never left without one. One reader per process, started in the process that serves
        # (after gunicorn forks).
        if not self._reader.running:
            self._ready.clear()
            self._reader.start()

    def _nobody_listening_since(self, since: float) -> float | None:
        """Stops this reader when nobody has listened since ``since`` (monotonic seconds)
        for ``IDLE_STOP_SECONDS``; returns when somebody last did, or None once stopped."""
        now = time.monotonic()
        with self._lock:
            if self._subscribers:
                return now
            if now - since < IDLE_STOP_SECONDS:
                return since
            self._reader.forget()
            return None

    def _positions(self) -> dict[str, str]:
        positions = {}
        for key in STREAMS.values():
            last = self.client.xrevrange(key, "+", "-", count=1)
            positions[key] = last[0][0] if last else "0-0"
        return positions

    def _run(self) -> None:
        positions = None
        names = {key: name for name, key in STREAMS.items()}
        listened = time.monotonic()
        while not self.closing.is_set():
            listened = self._nobody_listening_since(listened)
            if listened is None:
                return
            try:
                if positions is None:
                    positions = self._positions()
                    self._ready.set()
                replies = self.client.xread(positions, count=READ_COUNT, block=BLOCK_MS)
            except redis.RedisError as exc:
                logger.warning("event stream unreadable, retrying: %s", exc)
                self.closing.wait(1)
                continue
            for key, entries in replies or []:
                for entry_id, fields in entries:
                    positions[key] = entry_id
                    self._dispatch(names[key], entry_id, fields)
        self._ready.set()

    def _dispatch(self, stream: str, entry_id: str, fields: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:  # the last one left since the read
            return
        event = _event(stream, entry_id, fields)
        for subscription in subscribers:
            try:
                subscription.offer(event)
            except Exception:  # one client's filter must not stop the feed for all
                logger.exception("event filter failed")
                subscription.overflowed = True


def _event(stream: str, entry_id: str, fields: dict) -> Event:
    return Event(stream, entry_id, json.loads(fields["event"]))
