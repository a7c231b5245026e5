"""The ``/metrics`` figures in Prometheus's text format, or OpenMetrics, for scrapers.

Everything is a gauge read at scrape time from Redis, so any API process gives the same
answer: queue depths and the age of the oldest waiting task (which Flower does not export),
workers by status, the windowed response times, rates and error rates of ``/metrics``, and
the completed tasks of the window by channel and sentiment (every label, zeros included).
"""
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from tasks.analysis import LABELS
from tasks.backlog import Backlog
from tasks.performance import Performance
from tasks.queues import CHANNELS

PROMETHEUS_TYPES = ("application/openmetrics-text", "text/plain")
JSON_TYPES = ("application/json", "application/*", "*/*")


def wants_prometheus(accept: str | None) -> bool:
    """True when the Accept header rates a Prometheus text format above JSON."""
    # By hand: werkzeug's matching would demand parameters such as version=0.0.4 on both
    # sides. A bare */* or no header means JSON.
    best = {"prometheus": 0.0, "json": 0.0}
    for entry in (accept or "").split(","):
        media_type, *params = [part.strip() for part in entry.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media_type = media_type.lower()
        if media_type in PROMETHEUS_TYPES:
            best["prometheus"] = max(best["prometheus"], quality)
        elif media_type in JSON_TYPES:
            best["json"] = max(best["json"], quality)
    return best["prometheus"] > best["json"]


class Snapshot:
    """A one-shot collector over figures already read."""

    def __init__(self, backlog: Backlog, workers: dict[str, int], performance: Performance):
        self.backlog = backlog
        self.workers = workers
        self.performance = performance

    def collect(self):
        yield from self._queues()
        workers = GaugeMetricFamily("sp_workers", "Workers by heartbeat status.",
                                    labels=["status"])
        for status in ("active", "idle", "offline"):
            workers.add_metric([status], self.workers.get(status, 0))
        yield workers
        yield from self._performance()

    def _queues(self):
        depth = GaugeMetricFamily("sp_queue_depth", "Messages waiting in a Celery queue.",
                                  labels=["channel", "priority"])
        for channel, by_priority in self.backlog.messages.items():
            for priority, length in by_priority.items():
                depth.add_metric([channel, priority], length)
        yield depth
        queued = GaugeMetricFamily("sp_tasks_queued", "Tasks waiting, by priority.",
                                   labels=["priority"])
        age = GaugeMetricFamily("sp_oldest_task_age_seconds",
                                "How long the oldest waiting task has waited (0: none).",
                                labels=["priority"])
        for priority, count in self.backlog.queued.items():
            queued.add_metric([priority], count)
            age.add_metric([priority], self.backlog.oldest_wait_seconds(priority) or 0.0)
        yield queued
        yield age
        processing = GaugeMetricFamily("sp_tasks_processing", "Tasks being processed.",
                                       labels=["channel"])
        for channel, count in self.backlog.processing.items():
            processing.add_metric([channel], count)
        yield processing

    def _performance(self):
        perf = self.performance
        window = GaugeMetricFamily("sp_metrics_window_seconds",
                                   "Seconds the windowed figures below cover.")
        window.add_metric([], perf.window_seconds)
        yield window
        response = GaugeMetricFamily("sp_api_response_time_seconds",
                                     "API response time quantiles over the window.",
                                     labels=["quantile"])
        for name, ms in perf.response_time_ms().items():
            if ms is not None:
                response.add_metric([f"0.{name[1:]}"], ms / 1000)
        yield response
        yield _gauge("sp_api_requests_per_second", "API requests answered per second.",
                     perf.api.rate("requests"))
        yield _gauge("sp_tasks_finished_per_second", "Tasks completed or failed per second.",
                     perf.tasks_finished / perf.window_seconds if perf.window_seconds else 0)
        yield _gauge("sp_tasks_finished", "Tasks completed or failed within the window.",
                     perf.tasks_finished)
        total, by_type = perf.error_rates()
        rates = GaugeMetricFamily("sp_error_rate",
                                  "Errors per operation (request or finished task).",
                                  labels=["type"])
        rates.add_metric(["total"], total)
        for kind, rate in by_type.items():
            rates.add_metric([kind], rate)
        yield rates
        escalations = GaugeMetricFamily(
            "sp_escalations", "Completed tasks the escalation rules flagged within the window.",
            labels=["channel"])
        for channel, count in perf.escalations()["by_channel"].items():
            escalations.add_metric([channel], count)
        yield escalations
        sentiments = GaugeMetricFamily(
            "sp_tasks_completed_by_sentiment",
            "Tasks completed within the window, by channel and result sentiment.",
            labels=["channel", "sentiment"])
        for channel in CHANNELS:
            for sentiment in LABELS:
                sentiments.add_metric([channel, sentiment],
                                      perf.tasks.get(f"sentiment_{sentiment}", channel))
        yield sentiments


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def render(snapshot: Snapshot, accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type, in the format and version ``accept`` asks."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(snapshot)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
