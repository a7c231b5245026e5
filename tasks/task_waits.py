"""Requests waiting for a task to finish (``GET /task/{id}?wait=``), woken through Redis.

A waiting request marks its task awaited (``keys.AWAITED``, which expires with the wait).
When an awaited task finishes, the registry's script publishes its id on its database's
``keys.TASK_FINISHED`` (``tell_waiters`` in ``tasks.registry_scripts``): a task nobody
waits for costs its script one ``EXISTS``. One subscriber per process (a thread, a
greenlet under gevent) wakes the process's requests waiting for that id, so a process wakes
only for the tasks someone waits for, whichever worker or host finished them. Pub/sub
delivers at most once (a dropped connection loses what it missed): a waiter also looks again
every ``RECHECK_SECONDS``.
"""
import logging
import math
import threading

import redis

from tasks import keys
from tasks.process_thread import ProcessThread

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
MARK_GRACE_SECONDS = 5  # the awaited mark outlives the wait: a request's last read is late
READ_TIMEOUT_SECONDS = 1.0  # how soon the subscriber notices ``close``


class TaskWaits:
    """This process's waiting requests, by task id, and its subscriber."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.closing = threading.Event()
        self._waiting: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._subscriber = ProcessThread(self._run, "sp-task-waits")

    def watch(self, task_id: str, seconds: float) -> threading.Event:
        """An event set when the task may have finished, or the process stops; the caller
        clears it before each read of the task, and calls ``unwatch`` when done. Call it
        before reading the task: a finish after that read always sets the event."""
        changed = threading.Event()
        with self._lock:
            self._waiting.setdefault(task_id, set()).add(changed)
            if self.closing.is_set():
                changed.set()
            self._ensure_subscriber()
        self._subscribed.wait(5)  # a finish published before the SUBSCRIBE would be lost
        self.client.set(keys.awaited(task_id), 1,
                        ex=math.ceil(seconds) + MARK_GRACE_SECONDS)
        return changed

    def unwatch(self, task_id: str, changed: threading.Event) -> None:
        with self._lock:
            waiting = self._waiting.get(task_id)
            if waiting is not None:
                waiting.discard(changed)
                if not waiting:
                    del self._waiting[task_id]

    def close(self) -> None:
        """Shutting down: every waiting request answers at once."""
        with self._lock:
            self.closing.set()
            for waiting in self._waiting.values():
                for changed in waiting:
                    changed.set()

    def _ensure_subscriber(self) -> None:
        # Called holding the lock. One subscriber per process, started in the process that
        # serves (after gunicorn forks).
        if not self._subscriber.running:
            self._subscribed.clear()
            self._subscriber.start()

    def _run(self) -> None:
        while not self.closing.is_set():
            pubsub = self.client.pubsub()
            try:
                pubsub.subscribe(keys.task_finished(self.client))
                while not self.closing.is_set():
                    message = pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._subscribed.set()
                    elif message["type"] == "message":
                        self._wake(message["data"])
            except redis.RedisError as exc:
                logger.warning("task-finished channel unreadable, retrying: %s", exc)
                self.closing.wait(1)
            finally:
                pubsub.close()
        self._subscribed.set()

    def _wake(self, task_id: str) -> None:
        with self._lock:
            for changed in self._waiting.get(task_id, ()):
                changed.set()
