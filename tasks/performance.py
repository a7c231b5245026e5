"""The ``/metrics`` figures: API response times, throughput and error rates over a window.

Response-time percentiles come from the API histogram (``tasks.api_metrics``) summed over
the window's buckets: the same answer from every process, within one bin (25%) of the true
value. Error rates share one denominator, the operations the platform performed in the
window (API requests answered plus tasks finished), so the types add up to the total; the
absolute counts are given beside them.
"""
from dataclasses import dataclass

import redis

from tasks import keys, metric_windows
from tasks.api_metrics import error_type
from tasks.connections import redis_now
from tasks.escalation import RULES
from tasks.metric_windows import Window
from tasks.queues import CHANNELS

# How a task's error code counts; codes not listed count as processing errors.
TASK_ERROR_TYPES = {"TASK_EXPIRED": "timeout", "TASK_TIMEOUT": "timeout",
                    "ANALYSIS_FAILED": "processing", "TOO_MANY_ATTEMPTS": "processing"}
# Always reported, even at zero: the seed's types plus auth and rate limiting.
REPORTED_TYPES = ("timeout", "processing", "validation", "auth", "rate_limit")
PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Performance:
    """API and task figures over one window."""

    api: Window
    tasks: Window

    @property
    def window_seconds(self) -> float:
        return self.api.seconds

    @property
    def requests(self) -> int:
        return int(self.api.get("requests"))

    @property
    def tasks_finished(self) -> int:
        return int(self.tasks.get("completed") + self.tasks.get("failed"))

    def response_time_ms(self) -> dict[str, float | None]:
        """p50, p95 and p99 of the API's response times, in ms."""
        return {name: self.api.percentile(fraction) for name, fraction in PERCENTILES.items()}

    def mean_response_ms(self) -> float | None:
        return self.api.get("latency_ms") / self.requests if self.requests else None

    def error_counts(self) -> dict[str, int]:
        """Errors by type: API answers by their status, tasks by their error code."""
        counts = dict.fromkeys(REPORTED_TYPES, 0)
        for status, count in self.api.with_prefix("status:").items():
            kind = error_type(int(status))
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + int(count)
        for field, count in self.tasks.with_prefix("failed_").items():
            if ":" not in field:  # the per-channel copies would count twice
                kind = TASK_ERROR_TYPES.get(field, "processing")
                counts[kind] += int(count)
        return counts

    def escalations(self) -> dict:
        """Completed tasks the escalation rules flagged: in all, by channel and by rule.

        A task flagged by two rules counts once in the total and once under each rule.
        """
        by_rule = dict.fromkeys(RULES, 0)
        for field, count in self.tasks.with_prefix("escalated_").items():
            if ":" not in field:  # the per-channel copies would count twice
                by_rule[field] = by_rule.get(field, 0) + int(count)
        return {"total": int(self.tasks.get("escalated")),
                "by_channel": {c: int(self.tasks.get("escalated", c)) for c in CHANNELS},
                "by_rule": by_rule}

    def error_rates(self) -> tuple[float, dict[str, float]]:
        """The total error rate and each type's, per operation in the window."""
        operations = self.requests + self.tasks_finished
        counts = self.error_counts()
        if not operations:
            return 0.0, dict.fromkeys(counts, 0.0)
        by_type = {kind: count / operations for kind, count in counts.items()}
        return sum(counts.values()) / operations, by_type


def read_performance(client: redis.Redis, window_seconds: float) -> Performance:
    """The figures of the last ``window_seconds``, by Redis's clock."""
    windows = metric_windows.read(client, {"api": keys.API_METRICS, "tasks": keys.METRICS},
                                  window_seconds, redis_now(client))
    return Performance(windows["api"], windows["tasks"])
