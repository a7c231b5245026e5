"""The platform's health: Redis, workers, queues, rates and this host, judged in one place.

``healthy`` when all is well; ``degraded`` when Redis is slow or keeps no copy on disk, no
worker is online, a channel with waiting tasks has no worker consuming it, or the backlog
grows (a task waited longer than ``HEALTH_MAX_QUEUE_WAIT_SECONDS``, or tasks wait and none
finished within the window); ``unhealthy`` when Redis cannot be reached. Redis is probed
through a client without retries and with sub-second timeouts, so an outage is reported
within about a second instead of after the shared client's retries.
"""
import time
from dataclasses import dataclass, field

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks import keys, metric_windows
from tasks.backlog import Backlog, read_backlog
from tasks.queues import CHANNELS
from workers import state
from workers.pausing import paused_channels

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
SLOW_REDIS_MS = 100.0
PROBE_CONNECT_TIMEOUT_SECONDS = 0.5
PROBE_SOCKET_TIMEOUT_SECONDS = 1.0

psutil.cpu_percent(interval=None)  # the first reading only starts the measurement


def probe_client(url: str) -> redis.Redis:
    """A client that fails fast: one retry (for a connection Redis closed), no backoff."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=PROBE_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=PROBE_CONNECT_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 1))


@dataclass(frozen=True)
class Persistence:
    aof: bool
    rdb: bool | None  # None: CONFIG is refused (managed Redis), RDB schedule unknown

    @property
    def persisting(self) -> bool | None:
        if self.aof or self.rdb:
            return True
        return None if self.rdb is None else False


@dataclass
class HealthReport:
    """Every figure ``GET /health`` shows, as numbers; None where it could not be read."""

    status: str
    redis_up: bool
    redis_latency_ms: float | None = None
    redis_error: str | None = None
    persistence: Persistence | None = None
    workers: dict[str, int] | None = None
    backlog: Backlog | None = None
    window: metric_windows.Window | None = None
    api_window: metric_windows.Window | None = None
    channels_without_worker: list[str] = field(default_factory=list)
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def average_response_ms(self) -> float | None:
        if self.api_window is None or not self.api_window.get("requests"):
            return None
        return self.api_window.get("latency_ms") / self.api_window.get("requests")


def check(client: redis.Redis, priority_steps, window_seconds: float,
          max_queue_wait_seconds: float, forget_seconds: float) -> HealthReport:
    """Measure everything; Redis unreachable at any point makes the report ``unhealthy``."""
    report = HealthReport(HEALTHY, redis_up=False, cpu_percent=psutil.cpu_percent(None),
                          memory_percent=psutil.virtual_memory().percent)
    try:
        report.redis_latency_ms = _ping_ms(client)
        report.redis_up = True
        report.persistence = read_persistence(client)
        workers = state.read_workers(client, forget_seconds)
        report.workers = state.counts(workers)
        report.workers["online"] = report.workers[state.ACTIVE] + report.workers[state.IDLE]
        report.backlog = read_backlog(client, priority_steps)
        windows = metric_windows.read(client, {"tasks": keys.METRICS, "api": keys.API_METRICS},
                                      window_seconds, report.backlog.now)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        report.status, report.redis_up = UNHEALTHY, False
        report.redis_error = type(exc).__name__
        report.reasons.append("Redis cannot be reached")
        return report
    report.window, report.api_window = windows["tasks"], windows["api"]
    paused = paused_channels(client)  # no worker consumes a paused channel, on purpose
    report.channels_without_worker = [
        c for c in CHANNELS
        if c not in paused and state.unserved(workers, c, report.backlog.tasks[c])]
    report.reasons = degraded_reasons(report, max_queue_wait_seconds)
    report.status = DEGRADED if report.reasons else HEALTHY
    return report


def degraded_reasons(report: HealthReport, max_queue_wait_seconds: float) -> list[str]:
    """Why a reachable platform is degraded; empty when it is healthy."""
    reasons = []
    if report.redis_latency_ms is not None and report.redis_latency_ms > SLOW_REDIS_MS:
        reasons.append(f"Redis answered PING in {report.redis_latency_ms:.0f} ms")
    if report.persistence is not None and report.persistence.persisting is False:
        reasons.append("Redis keeps no copy on disk (AOF and RDB both off)")
    if report.workers is not None and report.workers["online"] == 0:
        reasons.append("no worker is online")
    for channel in report.channels_without_worker:
        reasons.append(f"tasks wait in {channel} and no online worker consumes it")
    backlog, window = report.backlog, report.window
    if backlog is not None:
        oldest = backlog.oldest_wait_seconds()
        if oldest is not None and oldest > max_queue_wait_seconds:
            reasons.append(f"a task has waited {oldest:.0f} s")
        finished = window.get("completed") + window.get("failed") if window else 0
        if backlog.waiting() and not finished and oldest is not None and window is not None \
                and oldest > window.seconds:
            reasons.append("tasks wait and none finished within the window")
    return reasons


def read_persistence(client: redis.Redis) -> Persistence:
    """Whether Redis writes an append-only file, and whether RDB snapshots are scheduled."""
    aof = bool(int(client.info("persistence").get("aof_enabled", 0)))
    try:
        rdb = bool(client.config_get("save").get("save", "").strip())
    except redis.ResponseError:  # CONFIG renamed or refused, as on many managed services
        rdb = None
    return Persistence(aof, rdb)


def _ping_ms(client: redis.Redis) -> float:
    started = time.perf_counter()
    client.ping()
    return (time.perf_counter() - started) * 1000
