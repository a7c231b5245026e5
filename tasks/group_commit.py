"""Group commit: concurrent submissions in one process are stored together.

Each request hands its task to one flusher thread (a greenlet under gunicorn's gevent
worker) and waits. The flusher takes the first task and whatever else is waiting (what
arrived while it stored the previous group, and within ``window`` seconds if one is set),
and stores them with one registry call, so they share one script run and one Celery
message per channel and priority: a worker pays Celery's per-message cost once per group.
A request answers only once its group is in Redis, so "accepted" still means stored. An
urgent task (``urgent(task)``, a ``high`` one) is never grouped: its own request stores
it, with no window to wait out and no hand-off, on a host that may be busy with a backlog.
"""
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

logger = logging.getLogger(__name__)

# A full group goes at once: its requests have waited long enough.
MAX_GROUP = 64
# A flush is bounded by the Redis client's socket timeouts; this only guards against a bug.
RESULT_TIMEOUT_SECONDS = 30


class GroupCommit:
    """Runs ``flush(items) -> (results, shared)`` over groups of concurrently submitted items."""

    def __init__(self, flush: Callable, window: float = 0.0, max_group: int = MAX_GROUP,
                 urgent: Callable = lambda item: False):
        self.flush = flush
        self.window = window
        self.urgent = urgent
        self.max_group = max_group
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, item):
        """Store ``item`` with whatever else is waiting; returns (its result, shared)."""
        if self.urgent(item):
            results, shared = self.flush([item])
            return results[0], shared
        future: Future = Future()
        self._waiting.put((item, future))
        self._ensure_flusher()
        return future.result(timeout=RESULT_TIMEOUT_SECONDS)

    def _ensure_flusher(self) -> None:
        if self._thread is not None:
            return
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._waiting.get()]
            deadline = time.monotonic() + self.window
            if not self.window:
                # One yield lets requests already being read join the group. A get with a
                # zero timeout did that too, but under gevent it starts a timer and waits a
                # turn of the event loop: 5% fewer requests/s (wrk pairs, POST /task).
                time.sleep(0)
            while len(group) < self.max_group:
                try:
                    remaining = deadline - time.monotonic()
                    group.append(self._waiting.get(timeout=remaining) if remaining > 0
                                 else self._waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                results, shared = self.flush([item for item, _ in group])
            except BaseException as exc:  # every request of the group answers with it
                for _, future in group:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(group, results, strict=True):
                future.set_result((result, shared))
