"""Worker routes: list the workers, start one through a host agent, stop one gracefully."""
from flask import Blueprint, current_app, request, url_for

from app import formatting
from app.auth import require_operator
from app.errors import APIError
from app.extensions import celery
from app.validation import load
from workers import control, state

bp = Blueprint("workers", __name__)

# The agent's final word on a start or stop, as an HTTP status.
_STATUS = {"started": 201, "starting": 202, "stopped": 200, "stopping": 202}


@bp.get("/workers")
def list_workers():
    """Every worker seen within ``WORKER_FORGET_SECONDS``, from their heartbeats.

    Response 200: ``{"total_workers": 2, "active_workers": 1, "idle_workers": 1,
    "offline_workers": 0, "workers": [{"id": 0, "status": "active", "tasks_processed": 150,
    "uptime": "2h 30m", "current_load": 0.75, "hostname": "worker-0@host", "concurrency": 2,
    "queues": ["chat", "email", "voice"], "pid": 4242, ...}]}`` (any token: a monitoring
    route; starting and stopping workers needs an operator token).
    """
    workers = state.listed(_read())
    count = state.counts(workers)
    return {"total_workers": count["total"], "active_workers": count[state.ACTIVE],
            "idle_workers": count[state.IDLE], "offline_workers": count[state.OFFLINE],
            "workers": [present(worker) for worker in workers]}


@bp.get("/workers/<worker_id>")
def get_worker(worker_id: str):
    """One worker by its id or node name.

    Response 200: one entry of ``GET /workers``'s ``workers`` (any token).
    """
    return present(_find(worker_id))


@bp.post("/workers")
def start_worker():
    """Start a Celery worker through a host agent (operator token).

    Request: ``{"worker_id": 3, "config": {"max_tasks": 100, "timeout": 30,
    "concurrency": 2, "queues": ["chat"], "priorities": ["high"]}, "host": "worker-host-1"}``,
    every field optional.

    Response 201: ``{"worker_id": 3, "status": "started", "endpoint":
    "ws://localhost:8000/worker/3", "hostname": "worker-3@host", "host": "host", "pid": 4242}``
    (202 with ``"status": "starting"`` when its first heartbeat is not in yet).
    """
    require_operator()
    body = load(current_app.extensions["worker_start_schema"])
    config = body["config"] or {}
    start = control.StartRequest(body["worker_id"], config.get("max_tasks"),
                                 config.get("timeout"), config.get("concurrency"),
                                 tuple(config.get("queues") or ()), body["host"],
                                 tuple(config.get("priorities") or ()))
    try:
        outcome = control.start_worker(_redis(), start, _read(), _wait_seconds())
    except control.AgentUnavailable as exc:
        raise APIError("WORKER_OFFLINE", f"Cannot start a worker: {exc}.") from None
    except control.WorkerIdTaken:
        raise APIError("WORKER_EXISTS", f"Worker {start.worker_id} is already running.",
                       {"worker_id": start.worker_id}) from None
    if outcome.status == "exists":
        raise APIError("WORKER_EXISTS", f"Worker {outcome.worker_id} is already running.",
                       {"worker_id": outcome.worker_id, "hostname": outcome.node})
    if outcome.status not in _STATUS:
        raise APIError("WORKER_OFFLINE", f"Worker {outcome.worker_id} exited while starting.",
                       {"worker_id": outcome.worker_id, **outcome.details})
    answer = {"worker_id": outcome.worker_id, "status": outcome.status,
              "endpoint": endpoint(outcome.worker_id), "hostname": outcome.node,
              "host": outcome.host, "pid": outcome.details.get("pid")}
    return answer, _STATUS[outcome.status], {
        "Location": url_for("workers.get_worker", worker_id=outcome.worker_id)}


@bp.delete("/workers/<worker_id>")
def stop_worker(worker_id: str):
    """Stop a worker gracefully: warm shutdown, tasks in hand finish (operator token).

    Response 200: ``{"worker_id": 3, "status": "stopped", "hostname": "worker-3@host"}``
    (202 with ``"status": "stopping"`` while it still finishes its tasks).
    """
    require_operator()
    worker = _find(worker_id)
    if not worker.online and worker.platform_id is None:
        raise APIError("WORKER_OFFLINE", f"Worker {worker.id} is offline.",
                       {"worker_id": worker.id})
    if worker.platform_id is None:
        # Not started by an agent: ask the worker itself, by Celery's remote control (a
        # fire-and-forget broadcast, no reply awaited). A process manager may restart it.
        celery().control.broadcast("shutdown", destination=[worker.node], reply=False)
        status = "stopping"
    else:
        try:
            status = control.stop_worker(_redis(), worker, _wait_seconds()).status
        except control.AgentUnavailable as exc:
            raise APIError("WORKER_OFFLINE", f"Cannot stop worker {worker.id}: {exc}.",
                           {"worker_id": worker.id}) from None
        if status not in _STATUS:
            raise APIError("WORKER_OFFLINE", f"Worker {worker.id} is not running.",
                           {"worker_id": worker.id})
    return {"worker_id": worker.id, "status": status, "hostname": worker.node}, _STATUS[status]


def present(worker: state.WorkerState) -> dict:
    """A worker as the API shows it: the seed's fields first."""
    uptime = worker.uptime_seconds
    return {
        "id": worker.id,
        "status": worker.status,
        "tasks_processed": worker.tasks_processed,
        "uptime": None if uptime is None else formatting.duration(uptime),
        "current_load": round(worker.load, 2),
        "uptime_seconds": None if uptime is None else round(uptime, 1),
        "busy": worker.busy,
        "hostname": worker.node,
        "host": worker.host,
        "concurrency": worker.concurrency,
        "queues": list(worker.queues),
        "priorities": list(worker.priorities),
        "pid": worker.pid,
        "managed": worker.platform_id is not None,
        "started_at": formatting.timestamp(worker.started_at),
        "last_seen": formatting.timestamp(worker.last_seen),
    }


def endpoint(worker_id: int | str) -> str:
    """The worker's live feed, ``ws://host:port/worker/{id}`` (``wss`` behind TLS)."""
    scheme = "wss" if request.scheme == "https" else "ws"
    return f"{scheme}://{request.host}/worker/{worker_id}"


def _find(worker_id: str) -> state.WorkerState:
    worker = state.find(_read(), worker_id)
    if worker is None:
        raise APIError("WORKER_NOT_FOUND", f"No worker {worker_id} is known.",
                       {"worker_id": worker_id})
    return worker


def _read() -> list[state.WorkerState]:
    return state.read_workers(_redis(), current_app.config["WORKER_FORGET_SECONDS"])


def _redis():
    return current_app.extensions["redis"]


def _wait_seconds() -> float:
    return current_app.config["WORKER_START_TIMEOUT_SECONDS"]
