"""``GET /tasks``: list and search tasks, newest first, a page at a time."""
from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from app import formatting
from app.errors import APIError
from app.schemas import TaskSearchQuerySchema
from app.validation import flatten
from tasks.task_search import Cursor, TaskQuery, TaskSearch

bp = Blueprint("search", __name__)

SEARCH_QUERY = TaskSearchQuerySchema()


@bp.record_once
def _create_search(state) -> None:
    app = state.app
    app.extensions["task_search"] = TaskSearch(app.extensions["redis"],
                                               app.config["TASK_SEARCH_SCAN_LIMIT"])


@bp.get("/tasks")
def list_tasks():
    """Tasks newest first, filtered; a channel token sees only its own.

    Query: ``status``, ``channel``, ``priority``, ``customer_id``, ``since``/``until``
    (ISO 8601, on the accept time), ``limit`` (1..500, default 50), ``cursor``, ``preview``.

    Response 200: ``{"tasks": [{"task_id": "task_...", "status": "completed", "channel":
    "chat", "priority": "high", "customer_id": "CUST123", "created_at": "...", "finished_at":
    "...", "sentiment": "positive", "error_code": null}, ...], "next_cursor": "..." | null}``.
    A page may hold fewer than ``limit`` tasks while ``next_cursor`` is set: each request reads
    at most ``TASK_SEARCH_SCAN_LIMIT`` ids; follow the cursor for the rest.
    """
    query = search_query()
    try:
        page = current_app.extensions["task_search"].search(query)
    except ValueError as exc:  # a cursor of another query
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       {"cursor": str(exc)}) from None
    return {"tasks": [summary(row, query.preview_chars) for row in page.tasks],
            "next_cursor": page.next.encode() if page.next else None}


def search_query() -> TaskQuery:
    """The request's query as a ``TaskQuery``, or INVALID_INPUT."""
    try:
        args = SEARCH_QUERY.load(request.args)
        cursor = None if args["cursor"] is None else Cursor.decode(args["cursor"])
    except ValidationError as exc:
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       flatten(exc.messages)) from None
    except ValueError as exc:
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       {"cursor": str(exc)}) from None
    return TaskQuery(
        status=args["status"], channel=args["channel"], priority=args["priority"],
        customer_id=args["customer_id"],
        owner=None if g.principal.is_operator else g.principal.id,
        since=args["since"].timestamp() if args["since"] else None,
        until=args["until"].timestamp() if args["until"] else None,
        limit=args["limit"], cursor=cursor, preview_chars=args["preview"])


def summary(row: dict, preview_chars: int) -> dict:
    """A task as a list shows it: no text (unless asked) and no result beyond its label."""
    answer = {
        "task_id": row["task_id"], "status": row["status"], "channel": row["channel"],
        "priority": row["priority"], "customer_id": row["customer_id"],
        "created_at": formatting.timestamp(row["created_at"]),
        "finished_at": formatting.timestamp(row["finished_at"]),
        "sentiment": row["sentiment"], "error_code": row["error_code"],
    }
    if preview_chars:
        answer["text_preview"] = row["text_preview"]
    return answer
