"""Task routes: submit a message for analysis and read its state."""
import json
import re

from flask import Blueprint, current_app, g, request, url_for

from app import formatting
from app.errors import APIError
from app.extensions import celery, registry
from app.validation import load
from tasks.registry import QueueFull
from tasks.submission import submit

bp = Blueprint("tasks", __name__)

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# A hint, not a measurement: by then the backlog has moved or the operator has acted.
QUEUE_FULL_RETRY_AFTER_SECONDS = 5


@bp.post("/task")
def submit_task():
    """Accept one message for analysis.

    Request: ``{"type": "sentiment_analysis", "data": {"text": "...", "channel": "chat",
    "customer_id": "CUST123", "priority": "high", "timeout": 30}}``, optionally with an
    ``Idempotency-Key`` header.

    Response 202: ``{"task_id": "task_...", "status": "accepted", "queue_position": 1,
    "estimated_process_time": "0.0021s", "estimated_process_time_ms": 2.1}``; 200 with
    ``Idempotent-Replayed: true`` and the first task's id when the key was used before.
    """
    body = load(current_app.extensions["submission_schema"])
    try:
        acceptance = submit(registry(), celery(), body["type"], body["data"], g.principal.id,
                            idempotency_key(), current_app.config["QUEUE_CAPACITY"])
    except QueueFull as full:
        raise APIError("QUEUE_FULL", "System at capacity; retry later.",
                       {"waiting": full.waiting,
                        "capacity": current_app.config["QUEUE_CAPACITY"]},
                       headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)}) from None
    estimate = acceptance.estimated_seconds()
    answer = {
        "task_id": acceptance.task_id,
        "status": "accepted",
        "queue_position": acceptance.position,
        "estimated_process_time": None if estimate is None else formatting.duration(estimate),
        "estimated_process_time_ms": None if estimate is None else round(estimate * 1000, 3),
    }
    headers = {"Location": url_for("tasks.get_task", task_id=acceptance.task_id)}
    if acceptance.replayed:
        return answer, 200, {**headers, "Idempotent-Replayed": "true"}
    return answer, 202, headers


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key``: 1 to 255 visible ASCII characters, or None."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       {"Idempotency-Key": "1 to 255 visible ASCII characters."})
    return key


@bp.get("/task/<task_id>")
def get_task(task_id: str):
    """The state of one task, and its result once completed.

    Response 200: ``{"task_id": "task_...", "status": "completed", "channel": "chat",
    "priority": "high", "customer_id": "CUST123", "result": {"sentiment": "positive",
    "confidence": 0.87, "scores": {"neg": 0.0, "neu": 0.3, "pos": 0.7, "compound": 0.88},
    "processing_time": "0.00021s", "processing_time_ms": 0.21, ...}}``
    """
    task = registry().get(task_id)
    if task is None or not (g.principal.is_operator or task.get("owner") == g.principal.id):
        raise APIError("TASK_NOT_FOUND", "Task ID doesn't exist.", {"task_id": task_id})
    return present(task_id, task)


def present(task_id: str, task: dict) -> dict:
    """A registry hash as the API shows it."""
    echo = {"channel": task.get("channel"), "customer_id": task.get("customer_id"),
            "priority": task.get("priority")}
    answer = {
        "task_id": task_id,
        "status": task["status"],
        "type": task.get("type"),
        **echo,
        "attempts": int(task.get("attempts", 0)),
        "created_at": formatting.timestamp(task.get("created_at")),
        "started_at": formatting.timestamp(task.get("started_at")),
        "finished_at": formatting.timestamp(task.get("finished_at")),
    }
    if task.get("timeout"):
        answer["timeout"] = float(task["timeout"])
    if task["status"] == "completed":
        result = json.loads(task["result"])
        seconds = result["processing_time_ms"] / 1000
        answer["result"] = {**result, "processing_time": formatting.duration(seconds), **echo}
    elif task["status"] == "failed":
        answer["error"] = {"code": task.get("error_code"), "message": task.get("error_message")}
    return answer
