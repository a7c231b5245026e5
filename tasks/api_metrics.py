"""API request counts and durations, buffered in each process and added to Redis each second.

A request only updates a dict under a lock (microseconds); a background thread adds the
buffer to the bucket hashes (``keys.API_METRICS``) in one pipelined round trip at most once a
second. So a request never waits on Redis for its metrics, even while Redis is slow or away,
and the per-request cost stays flat under load. The price: figures lag by up to a second and
a process that dies loses its last second of counts. While Redis is away the buffer keeps
counting; buckets older than the metrics TTL are dropped.
"""
import logging
import math
import os
import threading
import time
from collections import defaultdict

import redis

from tasks import keys, metrics

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0

# Error types of the API answers, by HTTP status; 2xx and 3xx are not errors.
ERROR_TYPES = {400: "validation", 413: "validation", 415: "validation", 401: "auth",
               403: "auth", 404: "not_found", 405: "not_found", 409: "conflict",
               429: "rate_limit"}


def error_type(status: int) -> str | None:
    """The error type an HTTP status counts as, or None for a success."""
    if status < 400:
        return None
    return ERROR_TYPES.get(status, "server" if status >= 500 else "client")


class RequestRecorder:
    """Counts this process's requests and flushes them to Redis from a daemon thread."""

    def __init__(self, client: redis.Redis, flush_seconds: float = FLUSH_SECONDS):
        self.client = client
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._failing = False

    def record(self, status: int, duration_ms: float, at: float | None = None) -> None:
        """Count one answered request."""
        bucket = math.floor((time.time() if at is None else at) / metrics.BUCKET_SECONDS)
        with self._lock:
            counts = self._pending[bucket]
            counts["requests"] += 1
            counts["latency_ms"] += duration_ms
            counts[f"latency_bin:{metrics.bin_index(duration_ms)}"] += 1
            counts[f"status:{status}"] += 1
        self._ensure_flusher()

    def flush(self) -> bool:
        """Add the buffered counts to Redis; on failure keep them for the next try."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: defaultdict(float))
        if not pending:
            return True
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for bucket, counts in pending.items():
                    key = keys.api_metrics(bucket)
                    for field, value in counts.items():
                        pipe.hincrbyfloat(key, field, value)
                    pipe.expire(key, metrics.TTL_SECONDS)
                pipe.execute()
        except redis.RedisError as exc:
            if not self._failing:
                logger.warning("API metrics not written, kept for later: %s", exc)
            self._failing = True
            self._restore(pending)
            return False
        self._failing = False
        return True

    def _restore(self, pending: dict[int, dict[str, float]]) -> None:
        oldest = math.floor(time.time() / metrics.BUCKET_SECONDS) - (
            metrics.TTL_SECONDS // metrics.BUCKET_SECONDS)
        with self._lock:
            for bucket, counts in pending.items():
                if bucket < oldest:
                    continue  # it would already have expired in Redis
                for field, value in counts.items():
                    self._pending[bucket][field] += value

    def _ensure_flusher(self) -> None:
        # Started on first use in each process: a thread started before gunicorn forks its
        # workers would not exist in them.
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="sp-api-metrics",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception:  # the flusher must outlive any surprise
                logger.exception("API metrics flush failed")
