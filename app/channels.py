"""Channel routes: each channel's load, recent response time and sentiments; pausing a
channel or a priority."""
from flask import Blueprint, current_app

from app import formatting
from app.auth import require_operator
from app.errors import APIError
from app.monitoring import priority_steps, window_seconds
from tasks import keys, metric_windows
from tasks.backlog import read_backlog
from tasks.channel_status import channel_statuses
from tasks.queues import CHANNELS, PRIORITIES
from workers import state
from workers.pausing import paused_channels

bp = Blueprint("channels", __name__)

PAUSED = "paused"


@bp.get("/channels")
def list_channels():
    """Every channel's status over ``?window=`` seconds (default ``METRICS_WINDOW_SECONDS``).

    Response 200: ``{"window_seconds": 60, "channels": {"chat": {"status": "active",
    "current_load": 45, "response_time": "2s", "response_time_ms": 2012.5, "queued": 40,
    "processing": 5, "workers": 2, "completed": 310, "failed": 0, "response_time_p95_ms": 3100,
    "sentiment": {"positive": 200, "neutral": 80, "negative": 30, "mixed": 6, "unknown": 2},
    "escalated": 4},
    "voice": {...},
    "email": {...}}, "priorities": {"high": "active", "normal": "active", "low": "paused"}}``
    """
    client = current_app.extensions["redis"]
    backlog = read_backlog(client, priority_steps())
    seconds = window_seconds()
    window = metric_windows.read(client, {"tasks": keys.METRICS}, seconds, backlog.now)["tasks"]
    workers = state.read_workers(client, current_app.config["WORKER_FORGET_SECONDS"])
    paused = paused_channels(client)
    channels = {}
    for channel in channel_statuses(backlog, window, workers):
        mean = channel.mean_latency_ms
        channels[channel.name] = {
            "status": PAUSED if channel.name in paused else channel.status,
            "current_load": channel.current_load,
            "response_time": None if mean is None else formatting.duration(mean / 1000),
            "response_time_ms": None if mean is None else round(mean, 3),
            "response_time_p95_ms": None if channel.p95_latency_ms is None else round(
                channel.p95_latency_ms, 3),
            "queued": channel.queued,
            "processing": channel.processing,
            "workers": channel.consumers,
            "completed": int(channel.completed),
            "failed": int(channel.failed),
            "sentiment": channel.sentiment,
            "escalated": channel.escalated,
        }
    paused_priorities = _registry().paused_priorities()
    return {"window_seconds": seconds, "channels": channels,
            "priorities": {p: PAUSED if p in paused_priorities else "active"
                           for p in PRIORITIES}}


@bp.post("/channels/<channel>/pause")
def pause_channel(channel: str):
    """Stop workers taking this channel's tasks; submissions are still accepted (operator).

    Response 200: ``{"channel": "email", "status": "paused"}``
    """
    require_operator()
    current_app.extensions["redis"].sadd(keys.PAUSED, known_channel(channel))
    return {"channel": channel, "status": PAUSED}


@bp.post("/channels/<channel>/resume")
def resume_channel(channel: str):
    """Let workers take this channel's tasks again (operator).

    Response 200: ``{"channel": "email", "status": "resumed"}``
    """
    require_operator()
    current_app.extensions["redis"].srem(keys.PAUSED, known_channel(channel))
    return {"channel": channel, "status": "resumed"}


@bp.post("/priorities/<priority>/pause")
def pause_priority(priority: str):
    """Stop workers taking this priority's tasks, on every channel (operator).

    Submissions are still accepted. Response 200: ``{"priority": "low", "status": "paused",
    "messages_set_aside": 12}``
    """
    require_operator()
    moved = _registry().pause_priority(known_priority(priority))
    return {"priority": priority, "status": PAUSED, "messages_set_aside": moved}


@bp.post("/priorities/<priority>/resume")
def resume_priority(priority: str):
    """Let workers take this priority's tasks again, oldest first (operator).

    Response 200: ``{"priority": "low", "status": "resumed", "messages_returned": 12}``
    """
    require_operator()
    moved = _registry().resume_priority(known_priority(priority))
    return {"priority": priority, "status": "resumed", "messages_returned": moved}


def _registry():
    return current_app.extensions["registry"]


def known_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise APIError("PRIORITY_NOT_FOUND", "No such priority.",
                       {"priority": priority, "priorities": list(PRIORITIES)})
    return priority


def known_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise APIError("CHANNEL_NOT_FOUND", "No such channel.",
                       {"channel": channel, "channels": list(CHANNELS)})
    return channel
