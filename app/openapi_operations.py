"""What each HTTP route answers, by endpoint: the part of the document a route cannot say.

Paths, methods, path parameters, summaries (the views' docstrings) and auth come from the app
itself (``app.openapi``); this table names, per endpoint, the marshmallow schemas its request
is loaded with, its success statuses with their answer schemas, and the error codes beyond
those every authenticated route shares.
``tests/test_openapi.py`` fails when a route of ``app.url_map`` has no entry here, and the
schemathesis run fails when a route answers a status that is not listed.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from marshmallow import Schema, fields, validate

from app import openapi_schemas as answers
from app.task_search import SEARCH_QUERY
from app.tasks import FAILED_QUERY, TASK_QUERY

# Every route behind a token may answer these, whatever it does.
AUTHENTICATED_ERRORS = ("UNAUTHORIZED", "RATE_LIMITED")
# Routes that read a JSON body: its media type, size and parse.
BODY_ERRORS = ("INVALID_INPUT", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE")
PROMETHEUS_TYPES = ("text/plain", "application/openmetrics-text")
WINDOW_QUERY = answers.WindowQuerySchema()


def _submission(app: Flask) -> Schema:
    return app.extensions["submission_schema"]  # built with the app's text and timeout limits


def _batch(app: Flask) -> Schema:
    """``POST /tasks``: the route checks the list, then loads each item on its own."""
    items = fields.List(fields.Nested(app.extensions["submission_schema"]), required=True,
                        validate=validate.Length(min=1, max=app.config["MAX_BATCH_SIZE"]))
    return Schema.from_dict({"tasks": items}, name="BatchRequest")()


def _webhook_subscription(app: Flask) -> Schema:
    return app.extensions["webhook_subscription_schema"]


def _worker_start(app: Flask) -> Schema:
    return app.extensions["worker_start_schema"]  # its timeout bound comes from the config


def _failed_tasks(app: Flask) -> Schema:
    return FAILED_QUERY


def _task(app: Flask) -> Schema:
    return TASK_QUERY


def _task_search(app: Flask) -> Schema:
    return SEARCH_QUERY


def _window(app: Flask) -> Schema:
    return WINDOW_QUERY


@dataclass(frozen=True)
class Operation:
    """One route's answers, and the schemas its request is loaded with."""

    responses: dict  # status -> answer schema, a media type -> schema mapping, or None
    errors: tuple[str, ...] = ()
    operator: bool = False  # a channel token gets 403 FORBIDDEN
    body: Callable[[Flask], Schema] | None = None  # the schema the view loads its body with
    query: Callable[[Flask], Schema] | None = None
    headers: dict = field(default_factory=dict)  # status -> response header names
    request_headers: tuple[str, ...] = ()


OPERATIONS = {
    "tasks.submit_task": Operation(
        {202: answers.SubmissionAnswerSchema, 200: answers.SubmissionAnswerSchema},
        BODY_ERRORS + ("URL_NOT_ALLOWED", "QUEUE_FULL", "REDIS_UNAVAILABLE"), body=_submission,
        headers={202: ("Location",), 200: ("Location", "Idempotent-Replayed")},
        request_headers=("Idempotency-Key",)),
    "tasks.submit_batch": Operation(
        {202: answers.BatchAnswerSchema}, BODY_ERRORS + ("REDIS_UNAVAILABLE",), body=_batch,
        request_headers=("Idempotency-Key",)),
    # A finished task never changes: 200 with an ETag, then 304 for If-None-Match.
    "tasks.get_task": Operation({200: answers.TaskSchema, 304: None},
                                ("TASK_NOT_FOUND", "INVALID_INPUT", "REDIS_UNAVAILABLE"),
                                headers={200: ("ETag", "Cache-Control"), 304: ("ETag",)},
                                request_headers=("If-None-Match",), query=_task),
    "tasks.cancel_task": Operation({200: answers.CancelledTaskSchema},
                                   ("TASK_NOT_FOUND", "TASK_NOT_CANCELLABLE",
                                    "REDIS_UNAVAILABLE")),
    "tasks.list_failed": Operation({200: answers.FailedTasksPageSchema},
                                   ("INVALID_INPUT", "REDIS_UNAVAILABLE"), operator=True,
                                   query=_failed_tasks),
    "tasks.retry_failed": Operation({202: answers.RetriedSchema},
                                    ("INVALID_INPUT", "REDIS_UNAVAILABLE"), operator=True,
                                    query=_failed_tasks),
    "tasks.retry_task": Operation({202: answers.RetriedTaskSchema},
                                  ("TASK_NOT_FOUND", "TASK_NOT_RETRYABLE", "REDIS_UNAVAILABLE"),
                                  operator=True),
    "search.list_tasks": Operation({200: answers.TaskPageSchema},
                                   ("INVALID_INPUT", "REDIS_UNAVAILABLE"), query=_task_search),
    "erasure.erase_customer": Operation({200: answers.ErasureSchema},
                                        ("INVALID_INPUT", "REDIS_UNAVAILABLE"), operator=True),
    "monitoring.live": Operation({200: answers.LiveSchema}),
    # Redis away is part of the answer (status unhealthy), not an error envelope.
    "monitoring.health": Operation({200: answers.HealthSchema, 503: answers.HealthSchema},
                                   ("INVALID_INPUT",), query=_window),
    "monitoring.performance_metrics": Operation(
        {200: {"application/json": answers.MetricsSchema,
               **{media: {"type": "string"} for media in PROMETHEUS_TYPES}}},
        ("INVALID_INPUT", "REDIS_UNAVAILABLE"), query=_window),
    "channels.list_channels": Operation({200: answers.ChannelsSchema},
                                        ("INVALID_INPUT", "REDIS_UNAVAILABLE"), query=_window),
    "channels.pause_channel": Operation({200: answers.ChannelPauseSchema},
                                        ("CHANNEL_NOT_FOUND", "REDIS_UNAVAILABLE"),
                                        operator=True),
    "channels.resume_channel": Operation({200: answers.ChannelPauseSchema},
                                         ("CHANNEL_NOT_FOUND", "REDIS_UNAVAILABLE"),
                                         operator=True),
    "channels.pause_priority": Operation({200: answers.PriorityPausedSchema},
                                         ("PRIORITY_NOT_FOUND", "REDIS_UNAVAILABLE"),
                                         operator=True),
    "channels.resume_priority": Operation({200: answers.PriorityResumedSchema},
                                          ("PRIORITY_NOT_FOUND", "REDIS_UNAVAILABLE"),
                                          operator=True),
    "customers.customer_sentiment": Operation({200: answers.CustomerSentimentSchema},
                                              ("REDIS_UNAVAILABLE",)),
    "workers.list_workers": Operation({200: answers.WorkerListSchema}, ("REDIS_UNAVAILABLE",)),
    "workers.get_worker": Operation({200: answers.WorkerSchema},
                                    ("WORKER_NOT_FOUND", "REDIS_UNAVAILABLE")),
    "workers.start_worker": Operation(
        {201: answers.WorkerStartedSchema, 202: answers.WorkerStartedSchema},
        BODY_ERRORS + ("WORKER_EXISTS", "WORKER_OFFLINE", "REDIS_UNAVAILABLE"), operator=True,
        body=_worker_start, headers={201: ("Location",), 202: ("Location",)}),
    "workers.stop_worker": Operation(
        {200: answers.WorkerStoppedSchema, 202: answers.WorkerStoppedSchema},
        ("WORKER_NOT_FOUND", "WORKER_OFFLINE", "REDIS_UNAVAILABLE"), operator=True),
    "webhooks.subscribe": Operation(
        {201: answers.WebhookCreatedSchema},
        BODY_ERRORS + ("URL_NOT_ALLOWED", "WEBHOOK_LIMIT", "REDIS_UNAVAILABLE"), operator=True,
        body=_webhook_subscription, headers={201: ("Location",)}),
    "webhooks.list_webhooks": Operation({200: answers.WebhookListSchema},
                                        ("REDIS_UNAVAILABLE",), operator=True),
    "webhooks.unsubscribe": Operation({200: answers.WebhookDeletedSchema},
                                      ("WEBHOOK_NOT_FOUND", "REDIS_UNAVAILABLE"), operator=True),
    "webhooks.list_deliveries": Operation({200: answers.WebhookDeliveriesSchema},
                                          ("WEBHOOK_NOT_FOUND", "REDIS_UNAVAILABLE"),
                                          operator=True),
    "webhooks.task_deliveries": Operation({200: answers.TaskDeliveriesSchema},
                                          ("TASK_NOT_FOUND", "REDIS_UNAVAILABLE")),
    "webhooks.callback_secret": Operation({200: answers.CallbackSecretSchema},
                                          ("REDIS_UNAVAILABLE",)),
    "webhooks.rotate_callback_secret": Operation({200: answers.CallbackSecretSchema},
                                                 ("REDIS_UNAVAILABLE",)),
    "openapi.openapi_document": Operation({200: {"application/json": {"type": "object"}}}),
    "docs.page": Operation({200: {"text/html": {"type": "string"}}}),
    "docs.asset": Operation(
        {200: {media: {"type": "string"} for media in
               ("text/css", "text/javascript", "image/png")}}, ("NOT_FOUND",)),
}

@dataclass(frozen=True)
class Socket:
    """A WebSocket route: what a refused handshake answers (an HTTP error in the envelope)."""

    errors: tuple[str, ...]
    query: dict = field(default_factory=dict)  # parameter -> meaning
    auth: str = "operator token"


_HANDSHAKE_ERRORS = ("UNAUTHORIZED", "FORBIDDEN", "CSRF_REJECTED", "INVALID_INPUT",
                     "WEBSOCKET_LIMIT")
SOCKETS = {
    "ws.task_updates": Socket(_HANDSHAKE_ERRORS, {
        "last_event_id": "Resume after this stream id (the `id` of the last message seen)."},
        auth="any token: a channel token gets the events of the tasks it submitted"),
    "ws.worker_feed": Socket(_HANDSHAKE_ERRORS + ("WORKER_NOT_FOUND",)),
    "ws.worker_updates": Socket(_HANDSHAKE_ERRORS),
}
