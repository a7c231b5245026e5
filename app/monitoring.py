"""Monitoring routes: liveness, health and performance metrics (JSON or Prometheus)."""
from flask import Blueprint, Response, current_app, request

from app.auth import public
from app.errors import APIError
from app.extensions import celery
from tasks import health as health_check
from tasks import metrics, prometheus
from tasks.backlog import read_backlog
from tasks.performance import read_performance
from tasks.queues import KOMBU_PRIORITY_STEPS
from workers import state

bp = Blueprint("monitoring", __name__)

MIN_WINDOW_SECONDS = metrics.BUCKET_SECONDS
MAX_WINDOW_SECONDS = metrics.TTL_SECONDS  # older buckets have expired


@bp.get("/health/live")
@public
def live():
    """Liveness for load balancers: the process answers. No auth, no Redis.

    Response 200: ``{"status": "ok"}``
    """
    return {"status": "ok"}


@bp.get("/health")
def health():
    """The platform's health, measured now; 503 with the same shape when Redis is away.

    Response 200: ``{"status": "healthy", "components": {"redis": {"status": "up",
    "latency": "0.21ms", ...}, "workers": {"active": 1, "total": 2, ...}, "queues":
    {"tasks": {"length": 10, "processing_rate": "50/sec", ...}, "results": {"length": 5,
    "processing_rate": "45/sec", ...}}}, "metrics": {"cpu_usage": "45%", "memory_usage":
    "60%", "average_response_time": "100ms", ...}, "reasons": []}``
    """
    config = current_app.config
    report = health_check.check(_probe(), priority_steps(), window_seconds(),
                                config["HEALTH_MAX_QUEUE_WAIT_SECONDS"],
                                config["WORKER_FORGET_SECONDS"])
    status = 503 if report.status == health_check.UNHEALTHY else 200
    return present_health(report), status, {"Cache-Control": "no-store"}


@bp.get("/metrics")
def performance_metrics():
    """Response times, throughput and error rates over ``?window=`` seconds (default 60).

    Prometheus text (or OpenMetrics) when the ``Accept`` header prefers it, as a scraper's
    does; JSON otherwise.

    Response 200: ``{"window_seconds": 60, "response_times": {"p50": 1.2, "p95": 3.1,
    "p99": 5.9, "mean": 1.6}, "throughput": {"requests_per_second": 50.2,
    "tasks_processed": 1000, "tasks_per_second": 16.7}, "error_rates": {"total": 0.01,
    "by_type": {"timeout": 0.005, "processing": 0.003, "validation": 0.002, "auth": 0,
    "rate_limit": 0}}, "error_counts": {...}, "requests": 3012, "escalations": {"total": 3,
    "by_channel": {"chat": 1, "voice": 2, "email": 0}, "by_rule": {...}}}``
    """
    client = current_app.extensions["redis"]
    window = window_seconds()
    performance = read_performance(client, window)
    if prometheus.wants_prometheus(request.headers.get("Accept")):
        workers = state.counts(state.listed(
            state.read_workers(client, current_app.config["WORKER_FORGET_SECONDS"])))
        snapshot = prometheus.Snapshot(read_backlog(client, priority_steps()), workers,
                                       performance)
        body, content_type = prometheus.render(snapshot, request.headers.get("Accept"))
        return Response(body, content_type=content_type)
    total, by_type = performance.error_rates()
    percentiles = performance.response_time_ms()
    return {
        "window_seconds": window,
        "response_times": {**{k: _ms(v) for k, v in percentiles.items()},
                           "mean": _ms(performance.mean_response_ms())},
        "throughput": {
            "requests_per_second": round(performance.api.rate("requests"), 3),
            "tasks_processed": performance.tasks_finished,
            "tasks_per_second": round(performance.tasks_finished / performance.window_seconds, 3)
            if performance.window_seconds else 0.0,
        },
        "error_rates": {"total": round(total, 5),
                        "by_type": {k: round(v, 5) for k, v in by_type.items()}},
        "error_counts": performance.error_counts(),
        "requests": performance.requests,
        "escalations": performance.escalations(),
    }


def present_health(report: health_check.HealthReport) -> dict:
    """The seed's health shape; figures that could not be read are null."""
    window, backlog = report.window, report.backlog
    finished_rate = completed_rate = None
    if window is not None:
        finished_rate = window.rate("completed") + window.rate("failed")
        completed_rate = window.rate("completed")
    redis_part = {"status": "up" if report.redis_up else "down",
                  "latency": _ms_text(report.redis_latency_ms),
                  "latency_ms": _ms(report.redis_latency_ms)}
    if report.persistence is not None:
        redis_part["persistence"] = {"aof": report.persistence.aof,
                                     "rdb": report.persistence.rdb,
                                     "persisting": report.persistence.persisting}
    if report.redis_error:
        redis_part["error"] = report.redis_error
    workers = report.workers or {}
    return {
        "status": report.status,
        "components": {
            "redis": redis_part,
            "workers": {"active": workers.get(state.ACTIVE), "total": workers.get("total"),
                        "online": workers.get("online"), "idle": workers.get(state.IDLE),
                        "offline": workers.get(state.OFFLINE)},
            "queues": {
                "tasks": {
                    "length": None if backlog is None else backlog.waiting(),
                    "processing_rate": _rate_text(finished_rate),
                    "processing_rate_per_second": _round(finished_rate),
                    "by_channel": None if backlog is None else {
                        c: backlog.waiting(c) for c in backlog.tasks},
                    "by_priority": None if backlog is None else backlog.waiting_by_priority(),
                    "processing": None if backlog is None else sum(
                        backlog.processing.values()),
                    "oldest_wait_seconds": None if backlog is None else _round(
                        backlog.oldest_wait_seconds()),
                },
                "results": {
                    "length": None if window is None else int(window.get("completed")),
                    "processing_rate": _rate_text(completed_rate),
                    "processing_rate_per_second": _round(completed_rate),
                    "window_seconds": window_seconds(),
                },
            },
        },
        "metrics": {
            "cpu_usage": f"{report.cpu_percent:.0f}%",
            "memory_usage": f"{report.memory_percent:.0f}%",
            "average_response_time": _ms_text(report.average_response_ms),
            "cpu_percent": report.cpu_percent,
            "memory_percent": report.memory_percent,
            "average_response_time_ms": _ms(report.average_response_ms),
        },
        "reasons": report.reasons,
    }


def window_seconds() -> int:
    """The ``?window=`` query parameter in seconds, or ``METRICS_WINDOW_SECONDS``."""
    raw = request.args.get("window")
    if raw is None:
        return current_app.config["METRICS_WINDOW_SECONDS"]
    # ASCII digits only: str.isdigit() also passes "²", which int() then refuses (a 500).
    if not (raw.isascii() and raw.isdigit()) or not (
            MIN_WINDOW_SECONDS <= int(raw) <= MAX_WINDOW_SECONDS):
        raise APIError("INVALID_INPUT", "Request validation failed.", {
            "window": f"Whole seconds from {MIN_WINDOW_SECONDS} to {MAX_WINDOW_SECONDS}."})
    return int(raw)


def _probe():
    # Created on first use, in the serving process; a fail-fast client of its own.
    probe = current_app.extensions.get("probe_redis")
    if probe is None:
        probe = health_check.probe_client(current_app.config["REDIS_URL"])
        current_app.extensions["probe_redis"] = probe
    return probe


def priority_steps() -> list[int]:
    """The broker's priority steps: one kombu list per step and queue."""
    return celery().conf.broker_transport_options.get("priority_steps", KOMBU_PRIORITY_STEPS)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms_text(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}ms"


def _rate_text(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}/sec"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
