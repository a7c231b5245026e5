"""Group commit: concurrent submissions in one process are stored together.

Each request hands its task to one flusher thread and waits. The flusher takes every task
waiting at that moment and stores them with one registry call, so they share one script run
and one Celery message per channel and priority. A request answers only once its group is
in Redis, so "accepted" still means stored. Nothing waits on purpose: a lone request is
flushed at once, and groups form only while a flush is under way.
"""
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

logger = logging.getLogger(__name__)

# A flush is bounded by the Redis client's socket timeouts; this only guards against a bug.
RESULT_TIMEOUT_SECONDS = 30


class GroupCommit:
    """Runs ``flush(items) -> (results, shared)`` over groups of concurrently submitted items."""

    def __init__(self, flush: Callable, max_group: int = 64):
        self.flush = flush
        self.max_group = max_group
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, item):
        """Store ``item`` with whatever else is waiting; returns (its result, shared)."""
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
            while len(group) < self.max_group:
                try:
                    group.append(self._waiting.get_nowait())
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
