"""Each channel's state: its load now, its recent end-to-end time and sentiments.

``current_load`` is tasks waiting plus tasks processing for the channel (``tasks.backlog``);
the response time and counts come from the metric buckets over the window. A channel is
``degraded`` when tasks wait and no online worker consumes its queue, or when at least half
of at least ``MIN_FINISHED_FOR_FAILURE_SHARE`` tasks finished in the window failed; ``active``
when it has work or finished some within the window; ``idle`` otherwise.
"""
from dataclasses import dataclass

from tasks.analysis import LABELS
from tasks.backlog import Backlog
from tasks.metric_windows import Window
from tasks.queues import CHANNELS, queue_for
from workers.state import WorkerState, unserved

ACTIVE, IDLE, DEGRADED = "active", "idle", "degraded"
SENTIMENTS = LABELS  # every label the analysis gives, each counted by COMPLETE
FAILURE_SHARE_DEGRADED = 0.5
MIN_FINISHED_FOR_FAILURE_SHARE = 4


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    status: str
    queued: int
    processing: int
    consumers: int  # online workers consuming this channel's queue
    completed: float
    failed: float
    mean_latency_ms: float | None
    p95_latency_ms: float | None
    sentiment: dict[str, int]
    escalated: int  # completed tasks the escalation rules flagged

    @property
    def current_load(self) -> int:
        return self.queued + self.processing


def channel_statuses(backlog: Backlog, window: Window,
                     workers: list[WorkerState]) -> list[ChannelStatus]:
    """Every channel's status, from one backlog snapshot, one metrics window and the workers."""
    statuses = []
    for channel in CHANNELS:
        queued, processing = backlog.waiting(channel), backlog.processing.get(channel, 0)
        consumers = sum(1 for w in workers if w.online and queue_for(channel) in w.queues)
        completed, failed = window.get("completed", channel), window.get("failed", channel)
        latency_sum = window.get("latency_ms", channel)
        finished = completed + failed
        failing = (finished >= MIN_FINISHED_FOR_FAILURE_SHARE
                   and failed / finished >= FAILURE_SHARE_DEGRADED)
        if unserved(workers, channel, backlog.tasks[channel]) or failing:
            status = DEGRADED
        elif queued or processing or finished:
            status = ACTIVE
        else:
            status = IDLE
        statuses.append(ChannelStatus(
            name=channel, status=status, queued=queued, processing=processing,
            consumers=consumers, completed=completed, failed=failed,
            mean_latency_ms=latency_sum / completed if completed else None,
            p95_latency_ms=window.percentile(0.95, channel),
            sentiment={s: int(window.get(f"sentiment_{s}", channel)) for s in SENTIMENTS},
            escalated=int(window.get("escalated", channel))))
    return statuses
