"""Task routes: submit a message for analysis and read its state."""
import hashlib
import json
import re
import time

from flask import Blueprint, current_app, g, jsonify, request, url_for
from marshmallow import ValidationError

from app import formatting, request_ids
from app.auth import require_operator
from app.errors import APIError, envelope
from app.extensions import celery, group_commit, registry, task_waits
from app.schemas import FailedTasksQuerySchema, TaskQuerySchema
from app.url_safety import refusal, refuse_unsafe, url_not_allowed
from app.validation import flatten, json_body, load
from tasks.analysis import RESULT_FIELDS
from tasks.messages import analyse_message
from tasks.registry import FINISHED_STATUSES, Acceptance, RecentCompletions, Refusal
from tasks.submission import new_task, store
from tasks.task_waits import RECHECK_SECONDS

bp = Blueprint("tasks", __name__)

FAILED_QUERY = FailedTasksQuerySchema()
TASK_QUERY = TaskQuerySchema()
SCORE_KEYS = ("neg", "neu", "pos", "compound")
COMPLETED_MAX_AGE_SECONDS = 3600  # well under TASK_TTL_SECONDS
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
    if body["data"]["callback_url"]:
        refuse_unsafe(body["data"]["callback_url"], "data.callback_url")
    task = new_task(body["type"], body["data"], g.principal.id, idempotency_key(),
                    request_ids.current())
    outcome, recent = group_commit().submit(task)
    if isinstance(outcome, Refusal):
        raise queue_full(outcome)
    request_ids.note_task(outcome.task_id)
    headers = {"Location": url_for("tasks.get_task", task_id=outcome.task_id)}
    if outcome.replayed:
        return accepted(outcome, recent), 200, {**headers, "Idempotent-Replayed": "true"}
    return accepted(outcome, recent), 202, headers


@bp.before_app_request
def _allow_large_batches() -> None:
    # Before the rate limiter reads the body to count the batch's items.
    if request.endpoint == "tasks.submit_batch":
        request.max_content_length = current_app.config["MAX_BATCH_CONTENT_LENGTH"]


@bp.post("/tasks")
def submit_batch():
    """Accept up to ``MAX_BATCH_SIZE`` messages in one request; each item stands on its own.

    Request: ``{"tasks": [<POST /task body>, ...]}``; an ``Idempotency-Key`` covers the batch.

    Response 202: ``{"tasks": [<POST /task answer> | {"error": {...}}, ...]}`` in order; an
    item answered before under the same key carries ``"replayed": true``. 400 only when the
    body is not such a batch.
    """
    items = batch_items(json_body())
    schema, owner, key = (current_app.extensions["submission_schema"], g.principal.id,
                          idempotency_key())
    request_id = request_ids.current()  # every task of the batch keeps the batch's id
    answers: list[dict | None] = [None] * len(items)
    tasks, places = [], []
    refusals: dict[str, str | None] = {}  # a callback URL is looked up once per batch
    for index, item in enumerate(items):
        try:
            body = schema.load(item)
        except ValidationError as exc:
            answers[index] = envelope("INVALID_INPUT", "Request validation failed.",
                                      flatten(exc.messages))
            continue
        url = body["data"]["callback_url"]
        if url and url not in refusals:
            refusals[url] = refusal(url)
        if url and refusals[url]:
            error = url_not_allowed("data.callback_url", refusals[url])
            answers[index] = envelope(error.code, error.message, error.details)
            continue
        item_key = None if key is None else f"{key}#{index}"  # one key covers the batch
        tasks.append(new_task(body["type"], body["data"], owner, item_key, request_id))
        places.append(index)
    if tasks:
        outcomes, recent = store(registry(), celery(), tasks,
                                 current_app.config["QUEUE_CAPACITY"])
        for index, outcome in zip(places, outcomes, strict=True):
            if isinstance(outcome, Refusal):
                error = queue_full(outcome)
                answers[index] = envelope(error.code, error.message, error.details)
            else:
                answers[index] = accepted(outcome, recent)
                if outcome.replayed:
                    answers[index]["replayed"] = True
    return {"tasks": answers}, 202


def batch_items(body) -> list:
    """The items of a batch body, or INVALID_INPUT when the body is not a batch."""
    limit = current_app.config["MAX_BATCH_SIZE"]
    if not isinstance(body, dict) or set(body) != {"tasks"}:
        details = {"body": 'Expected an object with one field, "tasks".'}
    elif not isinstance(body["tasks"], list):
        details = {"tasks": "Not a valid list."}
    elif not 1 <= len(body["tasks"]) <= limit:
        details = {"tasks": f"Between 1 and {limit} items."}
    else:
        return body["tasks"]
    raise APIError("INVALID_INPUT", "Request validation failed.", details)


def accepted(outcome: Acceptance, recent: RecentCompletions) -> dict:
    """The answer for one accepted task."""
    estimate = recent.estimated_seconds(outcome.position)
    return {
        "task_id": outcome.task_id,
        "status": "accepted",
        "queue_position": outcome.position,
        "estimated_process_time": None if estimate is None else formatting.duration(estimate),
        "estimated_process_time_ms": None if estimate is None else round(estimate * 1000, 3),
    }


def queue_full(refusal: Refusal) -> APIError:
    return APIError("QUEUE_FULL", "System at capacity; retry later.",
                    {"waiting": refusal.waiting,
                     "capacity": current_app.config["QUEUE_CAPACITY"]},
                    headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)})


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

    ``?wait=`` seconds (at most 30): a task not finished yet is answered once it finishes,
    or as it is when the wait runs out, instead of at once.
    """
    wait = query_args(TASK_QUERY)["wait"]
    task = visible_task(task_id)
    if wait and task["status"] not in FINISHED_STATUSES:
        task = finished_or_current(task_id, wait)
    response = jsonify(present(task_id, task))
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.cache_control.private = True  # answers depend on the token
    if task["status"] == "completed":  # a result never changes: keep it, revalidate free
        response.cache_control.max_age = COMPLETED_MAX_AGE_SECONDS
    else:  # a retry changes a failed task; the others are on their way
        response.cache_control.no_cache = True
    return response.make_conditional(request)


@bp.delete("/task/<task_id>")
def cancel_task(task_id: str):
    """Cancel a task still waiting: no worker will run it.

    Response 200: ``{"task_id": "task_...", "status": "cancelled"}``; 409
    ``TASK_NOT_CANCELLABLE`` once a worker has started it or it has ended.
    """
    visible_task(task_id)
    refused_as = registry().cancel(task_id)
    if refused_as == "missing":  # expired between the two reads
        raise APIError("TASK_NOT_FOUND", "Task ID doesn't exist.", {"task_id": task_id})
    if refused_as is not None:
        raise APIError("TASK_NOT_CANCELLABLE", "Only a task still waiting can be cancelled.",
                       {"task_id": task_id, "status": refused_as})
    return {"task_id": task_id, "status": "cancelled"}


def finished_or_current(task_id: str, seconds: float) -> dict:
    """The task once it finishes, or as it is after ``seconds``: a long poll, woken when
    the task finishes (``tasks.task_waits``), whichever worker or host finished it."""
    waits = task_waits()
    deadline = time.monotonic() + seconds
    changed = waits.watch(task_id, seconds)
    try:
        while True:
            task = visible_task(task_id)  # read after watching: a later finish wakes us
            remaining = deadline - time.monotonic()
            if task["status"] in FINISHED_STATUSES or remaining <= 0 or waits.closing.is_set():
                return task
            changed.wait(min(remaining, RECHECK_SECONDS))
            changed.clear()
    finally:
        waits.unwatch(task_id, changed)


def visible_task(task_id: str) -> dict:
    """The task, if this token may see it: its owner's, or any for an operator."""
    task = registry().get(task_id)
    if task is None or not (g.principal.is_operator or task.get("owner") == g.principal.id):
        raise APIError("TASK_NOT_FOUND", "Task ID doesn't exist.", {"task_id": task_id})
    return task


def present(task_id: str, task: dict) -> dict:
    """A registry hash as the API shows it."""
    echo = {"channel": task.get("channel"), "customer_id": task.get("customer_id"),
            "priority": task.get("priority")}
    answer = {
        "task_id": task_id,
        "status": task["status"],
        "type": task.get("type"),
        **echo,
        "request_id": task.get("request_id"),
        "attempts": int(task.get("attempts", 0)),
        "retries": int(task.get("retries", 0)),
        "created_at": formatting.timestamp(task.get("created_at")),
        "started_at": formatting.timestamp(task.get("started_at")),
        "finished_at": formatting.timestamp(task.get("finished_at")),
    }
    if task.get("timeout"):
        answer["timeout"] = float(task["timeout"])
    if task.get("callback_url"):
        answer["callback_url"] = task["callback_url"]
    if task["status"] == "completed":
        result = json.loads(task["result"])
        # The analysis's key order and VADER's, whatever order the registry stored them in.
        ordered = {key: result[key] for key in RESULT_FIELDS if key in result}
        scores = {key: result["scores"][key] for key in SCORE_KEYS}
        answer["result"] = {
            **ordered, **result, "scores": scores, **escalation(result),
            "processing_time": formatting.duration(result["processing_time_ms"] / 1000),
            "processing_time_ms": result["processing_time_ms"], **echo}
    elif task["status"] == "failed":
        answer["error"] = {"code": task.get("error_code"), "message": task.get("error_message")}
    return answer


def escalation(result: dict) -> dict:
    """A result's escalation fields; the registry stores the reasons only when it escalates."""
    return {"escalate": bool(result.get("escalate", False)),
            "escalation_reasons": result.get("escalation_reasons") or []}


@bp.get("/tasks/failed")
def list_failed():
    """The dead-letter list: failed tasks, newest first (operator token).

    Query: ``channel``, ``error_code``, ``limit`` (1..1000, default 50), ``before`` (the
    ``next`` cursor of the previous page).

    Response 200: ``{"tasks": [<GET /task answer>, ...], "next": 1795963633.5 | null}``
    """
    require_operator()
    query = query_args(FAILED_QUERY)
    found, cursor = registry().failed(matcher(query), query["limit"], query["before"])
    return {"tasks": [present(task_id, task) for task_id, task in found], "next": cursor}


@bp.post("/tasks/failed/retry")
def retry_failed():
    """Retry every failed task matching the query's filters, up to ``limit`` (operator token).

    Response 202: ``{"retried": 2, "task_ids": ["task_...", "task_..."]}``
    """
    require_operator()
    query = query_args(FAILED_QUERY)
    found, _ = registry().failed(matcher(query), query["limit"])
    retried = send_back({task_id: task for task_id, task in found})
    return {"retried": len(retried), "task_ids": retried}, 202


@bp.post("/task/<task_id>/retry")
def retry_task(task_id: str):
    """Retry one failed task (operator token): it is queued again with fresh attempts.

    Response 202: ``{"task_id": "task_...", "status": "queued"}``; 409 when it has not failed.
    """
    require_operator()
    task = registry().get(task_id)
    if task is None:
        raise APIError("TASK_NOT_FOUND", "Task ID doesn't exist.", {"task_id": task_id})
    if not send_back({task_id: task}):
        raise APIError("TASK_NOT_RETRYABLE", "Only a failed task can be retried.",
                       {"task_id": task_id, "status": task["status"]})
    return {"task_id": task_id, "status": "queued"}, 202


def query_args(schema) -> dict:
    """The request's query string validated by ``schema``."""
    try:
        return schema.load(request.args)
    except ValidationError as exc:
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       flatten(exc.messages)) from None


def matcher(query: dict):
    """A predicate on registry hashes for the dead-letter filters."""
    def matches(task: dict) -> bool:
        return (task.get("status") == "failed"
                and query["channel"] in (None, task.get("channel"))
                and query["error_code"] in (None, task.get("error_code")))
    return matches


def send_back(tasks: dict[str, dict]) -> list[str]:
    """Queue failed tasks again, each with a new message."""
    messages = {task_id: analyse_message(celery(), [task_id], task["channel"], task["priority"])
                for task_id, task in tasks.items()}
    return registry().retry(messages) if messages else []
