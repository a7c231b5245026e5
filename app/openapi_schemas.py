"""marshmallow schemas of the API's answers, read only by the OpenAPI document.

The routes build plain dicts; these schemas describe them, so the document can state every
field and schemathesis can check the answers against it. Unknown fields are refused
(``additionalProperties: false``): a field added to an answer but not here fails the
schemathesis test, so the document cannot fall behind the routes unnoticed.
"""
from marshmallow import Schema, fields, validate

from app.errors import CODES, TASK_ERROR_CODES
from app.monitoring import MAX_WINDOW_SECONDS, MIN_WINDOW_SECONDS
from tasks import analysis
from tasks.channel_status import ACTIVE, DEGRADED, IDLE
from tasks.customer_history import IMPROVING, STABLE, WORSENING
from tasks.escalation import RULES
from tasks.health import DEGRADED as HEALTH_DEGRADED
from tasks.health import HEALTHY, UNHEALTHY
from tasks.queues import CHANNELS, PRIORITIES
from tasks.registry import TASK_STATUSES
from tasks.sentiment import TASK_TYPES
from tasks.webhooks.store import EVENT_TYPES
from workers import state

TIMESTAMP = {"format": "date-time", "example": "2026-11-29T14:18:56.087+00:00"}


def _required(field_class, *args, **kwargs):
    """A field every answer carries (possibly null)."""
    return field_class(*args, required=True, **kwargs)


def _nullable(field_class, *args, **kwargs):
    """A field every answer carries, null when there is nothing to measure."""
    return field_class(*args, required=True, allow_none=True, **kwargs)


def _one_of(values, **kwargs):
    return _required(fields.String, validate=validate.OneOf(values), **kwargs)


class ErrorSchema(Schema):
    """The ``error`` of the envelope."""

    code = _one_of(list(CODES))
    message = _required(fields.String)
    details = _required(fields.Dict, metadata={
        "description": "Context of the error; for INVALID_INPUT each failing field's path "
                       "(`data.text`) with its message."})


class ErrorEnvelopeSchema(Schema):
    """Every error answer: ``{"error": {"code", "message", "details"}}``."""

    error = _required(fields.Nested, ErrorSchema)


class LiveSchema(Schema):
    status = _one_of(["ok"])


class SubmissionAnswerSchema(Schema):
    """``POST /task``'s answer."""

    task_id = _required(fields.String, metadata={"example": "task_5f0c2b"})
    status = _one_of(["accepted"])
    queue_position = _nullable(fields.Integer, metadata={
        "description": "1 means next to be served; null on an idempotent replay."})
    estimated_process_time = _nullable(fields.String, metadata={"example": "0.0042s"})
    estimated_process_time_ms = _nullable(fields.Float)


class BatchItemAnswerSchema(SubmissionAnswerSchema):
    """One accepted item of ``POST /tasks``."""

    replayed = fields.Boolean(metadata={
        "description": "true: answered before under the same Idempotency-Key."})


class BatchAnswerSchema(Schema):
    """``POST /tasks``'s answer: one entry per item, in order."""

    tasks = _required(fields.List, fields.Raw(metadata={"oneOf": [
        {"$ref": "#/components/schemas/BatchItemAnswer"},
        {"$ref": "#/components/schemas/ErrorEnvelope"}]}), metadata={
        "description": "Each item's answer, or its own error (INVALID_INPUT, "
                       "URL_NOT_ALLOWED, QUEUE_FULL)."})


class ScoresSchema(Schema):
    """VADER's ``polarity_scores``, untouched."""

    neg = _required(fields.Float)
    neu = _required(fields.Float)
    pos = _required(fields.Float)
    compound = _required(fields.Float)


class ModelSchema(Schema):
    name = _required(fields.String)
    version = _required(fields.String)


class EscalationReasonSchema(Schema):
    """One escalation rule a result met."""

    rule = _one_of(RULES)
    message = _required(fields.String, metadata={
        "example": "score -0.8316 is at or below -0.6 on a high-priority message"})


class ClassScoresSchema(Schema):
    """Each class's share; they sum to 1 (within their rounding to 4 decimals)."""

    positive = _required(fields.Float, validate=validate.Range(min=0, max=1))
    negative = _required(fields.Float, validate=validate.Range(min=0, max=1))
    neutral = _required(fields.Float, validate=validate.Range(min=0, max=1))
    mixed = _required(fields.Float, validate=validate.Range(min=0, max=1))


class SentenceSchema(Schema):
    """One sentence: ``text[start:end]`` (offsets in Unicode code points) and its VADER score."""

    start = _required(fields.Integer, validate=validate.Range(min=0))
    end = _required(fields.Integer, validate=validate.Range(min=0))
    compound = _required(fields.Float, validate=validate.Range(min=-1, max=1))
    sentiment = _one_of(analysis.SENTENCE_LABELS)


class TaskResultSchema(Schema):
    """The analysis of a completed task (README, "The result")."""

    sentiment = _one_of(analysis.LABELS, metadata={
        "description": "The class with the highest score; `unknown` when VADER cannot "
                       "judge the text (not English, too few words it knows)."})
    confidence = _required(fields.Float, validate=validate.Range(min=0, max=1), metadata={
        "description": "The lead of the label's class score over the runner-up's; 0 when "
                       "`unknown`."})
    confidence_band = _one_of(analysis.CONFIDENCE_BANDS)
    intensity = _nullable(fields.String, validate=validate.OneOf(analysis.INTENSITIES),
                          metadata={"description": "Five levels of `document_score`; null "
                                                   "when `unknown`."})
    document_score = _required(fields.Float, validate=validate.Range(min=-1, max=1), metadata={
        "description": "The whole text's compound; for a long text, the weighted mean of "
                       "its sentences' compounds."})
    class_scores = _nullable(fields.Nested, ClassScoresSchema, metadata={
        "description": "Null when `unknown`."})
    scores = _required(fields.Nested, ScoresSchema)
    sentences = _required(fields.List, fields.Nested(SentenceSchema))
    language = _nullable(fields.String, metadata={
        "description": "Checked when VADER knows under a fifth of the words: the language "
                       "CLD2 reliably finds (`en`, `de`, ...), or `und`; null otherwise.",
        "example": "de"})
    lexicon_coverage = _required(fields.Float, validate=validate.Range(min=0, max=1), metadata={
        "description": "The share of the text's tokens that VADER knows."})
    model = _required(fields.Nested, ModelSchema)
    escalate = _required(fields.Boolean, metadata={
        "description": "true when an escalation rule flagged the message for a person."})
    escalation_reasons = _required(fields.List, fields.Nested(EscalationReasonSchema),
                                   metadata={"description": "Empty unless `escalate`."})
    processing_time = _required(fields.String, metadata={"example": "0.00041s"})
    processing_time_ms = _required(fields.Float)
    channel = _nullable(fields.String)
    customer_id = _nullable(fields.String)
    priority = _nullable(fields.String)


class TaskErrorSchema(Schema):
    """Why a failed task failed."""

    code = _one_of(list(TASK_ERROR_CODES), allow_none=True)
    message = _nullable(fields.String)


class TaskSchema(Schema):
    """``GET /task/{task_id}``'s answer: the task's state, its result once completed."""

    task_id = _required(fields.String)
    status = _one_of(TASK_STATUSES)
    type = _nullable(fields.String, validate=validate.OneOf(TASK_TYPES))
    channel = _nullable(fields.String, validate=validate.OneOf(CHANNELS))
    customer_id = _nullable(fields.String)
    priority = _nullable(fields.String, validate=validate.OneOf(PRIORITIES))
    request_id = _nullable(fields.String, metadata={
        "description": "The `X-Request-ID` of the request that submitted the task; worker log "
                       "lines about the task carry it too."})
    attempts = _required(fields.Integer)
    retries = _required(fields.Integer)
    created_at = _nullable(fields.String, metadata=TIMESTAMP)
    started_at = _nullable(fields.String, metadata=TIMESTAMP)
    finished_at = _nullable(fields.String, metadata=TIMESTAMP)
    timeout = fields.Float(metadata={"description": "Seconds, when the submission set one."})
    callback_url = fields.String(metadata={
        "description": "When the submission set one: where the outcome is POSTed."})
    result = fields.Nested(TaskResultSchema, metadata={"description": "When completed."})
    error = fields.Nested(TaskErrorSchema, metadata={"description": "When failed."})


class FailedTasksPageSchema(Schema):
    """One page of the dead-letter list, newest first."""

    tasks = _required(fields.List, fields.Nested(TaskSchema))
    next = _nullable(fields.Float, metadata={
        "description": "The `before` of the next page; null on the last page."})


class TaskSummarySchema(Schema):
    """One task in a list: its state and label; ``GET /task/{task_id}`` has the rest."""

    task_id = _required(fields.String)
    status = _one_of(TASK_STATUSES)
    channel = _nullable(fields.String, validate=validate.OneOf(CHANNELS))
    priority = _nullable(fields.String, validate=validate.OneOf(PRIORITIES))
    customer_id = _nullable(fields.String)
    created_at = _nullable(fields.String, metadata=TIMESTAMP)
    finished_at = _nullable(fields.String, metadata=TIMESTAMP)
    sentiment = _nullable(fields.String, metadata={"description": "When completed."})
    error_code = _nullable(fields.String, metadata={"description": "When failed."})
    text_preview = fields.String(allow_none=True, metadata={
        "description": "The text's first `preview` characters, when `preview` was asked."})


class TaskPageSchema(Schema):
    """One page of ``GET /tasks``."""

    tasks = _required(fields.List, fields.Nested(TaskSummarySchema))
    next_cursor = _nullable(fields.String, metadata={
        "description": "Pass as `cursor` for the next page; null once there is none. A page "
                       "may hold fewer than `limit` tasks (even none) while it is set."})


class ErasedSchema(Schema):
    """What an erasure removed."""

    tasks = _required(fields.Integer)
    tasks_by_status = _required(fields.Dict, keys=fields.String(
        validate=validate.OneOf(TASK_STATUSES)), values=fields.Integer())
    idempotency_keys = _required(fields.Integer)
    history = _required(fields.Integer, metadata={"description": "1 when a history was held."})
    events = _required(fields.Integer, metadata={
        "description": "Task events naming the customer, deleted from the event stream."})


class ErasureSchema(Schema):
    """``DELETE /customers/{customer_id}``'s answer."""

    customer_id = _required(fields.String)
    erased = _required(fields.Nested, ErasedSchema)


class RetriedSchema(Schema):
    retried = _required(fields.Integer)
    task_ids = _required(fields.List, fields.String())


class RetriedTaskSchema(Schema):
    task_id = _required(fields.String)
    status = _one_of(["queued"])


class ChannelPauseSchema(Schema):
    channel = _required(fields.String)
    status = _one_of(["paused", "resumed"])


class PriorityPausedSchema(Schema):
    priority = _one_of(PRIORITIES)
    status = _one_of(["paused"])
    messages_set_aside = _required(fields.Integer, metadata={
        "description": "Celery messages moved out of the queues (each may carry several tasks)."})


class PriorityResumedSchema(Schema):
    priority = _one_of(PRIORITIES)
    status = _one_of(["resumed"])
    messages_returned = _required(fields.Integer)


class CancelledTaskSchema(Schema):
    task_id = _required(fields.String)
    status = _one_of(["cancelled"])


class WorkerSchema(Schema):
    """One worker, as its last heartbeat described it."""

    id = fields.Raw(required=True, metadata={
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "The number given to POST /workers, else the Celery node name."})
    status = _one_of([state.ACTIVE, state.IDLE, state.OFFLINE])
    tasks_processed = _required(fields.Integer)
    uptime = _nullable(fields.String, metadata={"example": "2h 30m"})
    current_load = _required(fields.Float, validate=validate.Range(min=0, max=1))
    uptime_seconds = _nullable(fields.Float)
    busy = _required(fields.Integer)
    hostname = _required(fields.String)
    host = _required(fields.String)
    concurrency = _required(fields.Integer)
    queues = _required(fields.List, fields.String())
    priorities = _required(fields.List, fields.String(validate=validate.OneOf(PRIORITIES)),
                           metadata={"description": "The priorities it takes: `high` only "
                                                    "for the Procfile's urgent worker."})
    pid = _required(fields.Integer)
    managed = _required(fields.Boolean)
    started_at = _nullable(fields.String, metadata=TIMESTAMP)
    last_seen = _nullable(fields.String, metadata=TIMESTAMP)


class WorkerListSchema(Schema):
    total_workers = _required(fields.Integer)
    active_workers = _required(fields.Integer)
    idle_workers = _required(fields.Integer)
    offline_workers = _required(fields.Integer)
    workers = _required(fields.List, fields.Nested(WorkerSchema))


class WorkerStartedSchema(Schema):
    """``POST /workers``'s answer."""

    worker_id = _required(fields.Integer)
    status = _one_of(["started", "starting"])
    endpoint = _required(fields.String, metadata={"example": "ws://localhost:8000/worker/3"})
    hostname = _required(fields.String)
    host = _required(fields.String)
    pid = _nullable(fields.Integer)


class WorkerStoppedSchema(Schema):
    """``DELETE /workers/{worker_id}``'s answer."""

    worker_id = fields.Raw(required=True, metadata={
        "oneOf": [{"type": "integer"}, {"type": "string"}]})
    status = _one_of(["stopped", "stopping"])
    hostname = _required(fields.String)


class PersistenceSchema(Schema):
    aof = _required(fields.Boolean)
    rdb = _nullable(fields.Boolean)
    persisting = _nullable(fields.Boolean)


class RedisHealthSchema(Schema):
    status = _one_of(["up", "down"])
    latency = _nullable(fields.String)
    latency_ms = _nullable(fields.Float)
    persistence = fields.Nested(PersistenceSchema)
    error = fields.String()


class WorkerCountsSchema(Schema):
    active = _nullable(fields.Integer)
    total = _nullable(fields.Integer)
    online = _nullable(fields.Integer)
    idle = _nullable(fields.Integer)
    offline = _nullable(fields.Integer)


class TaskQueueSchema(Schema):
    length = _nullable(fields.Integer)
    processing_rate = _nullable(fields.String, metadata={"example": "50/sec"})
    processing_rate_per_second = _nullable(fields.Float)
    by_channel = _nullable(fields.Dict, keys=fields.String(), values=fields.Integer())
    by_priority = _nullable(fields.Dict, keys=fields.String(), values=fields.Integer())
    processing = _nullable(fields.Integer)
    oldest_wait_seconds = _nullable(fields.Float)


class ResultQueueSchema(Schema):
    length = _nullable(fields.Integer)
    processing_rate = _nullable(fields.String)
    processing_rate_per_second = _nullable(fields.Float)
    window_seconds = _required(fields.Integer)


class QueuesSchema(Schema):
    tasks = _required(fields.Nested, TaskQueueSchema)
    results = _required(fields.Nested, ResultQueueSchema)


class ComponentsSchema(Schema):
    redis = _required(fields.Nested, RedisHealthSchema)
    workers = _required(fields.Nested, WorkerCountsSchema)
    queues = _required(fields.Nested, QueuesSchema)


class HostMetricsSchema(Schema):
    cpu_usage = _required(fields.String, metadata={"example": "45%"})
    memory_usage = _required(fields.String, metadata={"example": "60%"})
    average_response_time = _nullable(fields.String, metadata={"example": "1.9ms"})
    cpu_percent = _required(fields.Float)
    memory_percent = _required(fields.Float)
    average_response_time_ms = _nullable(fields.Float)


class HealthSchema(Schema):
    """``GET /health``: the same shape at 200 and at 503, unread figures null."""

    status = _one_of([HEALTHY, HEALTH_DEGRADED, UNHEALTHY])
    components = _required(fields.Nested, ComponentsSchema)
    metrics = _required(fields.Nested, HostMetricsSchema)
    reasons = _required(fields.List, fields.String())


class ResponseTimesSchema(Schema):
    """API response times over the window, in ms; null when no request was counted."""

    p50 = _nullable(fields.Float)
    p95 = _nullable(fields.Float)
    p99 = _nullable(fields.Float)
    mean = _nullable(fields.Float)


class ThroughputSchema(Schema):
    requests_per_second = _required(fields.Float)
    tasks_processed = _required(fields.Integer)
    tasks_per_second = _required(fields.Float)


class ErrorRatesSchema(Schema):
    total = _required(fields.Float)
    by_type = _required(fields.Dict, keys=fields.String(), values=fields.Float())


class EscalationCountsSchema(Schema):
    """Completed tasks flagged for escalation within the window."""

    total = _required(fields.Integer)
    by_channel = _required(fields.Dict, keys=fields.String(validate=validate.OneOf(CHANNELS)),
                           values=fields.Integer())
    by_rule = _required(fields.Dict, keys=fields.String(validate=validate.OneOf(RULES)),
                        values=fields.Integer(), metadata={
                            "description": "A task flagged by two rules counts under each."})


class MetricsSchema(Schema):
    """``GET /metrics`` as JSON."""

    window_seconds = _required(fields.Integer)
    response_times = _required(fields.Nested, ResponseTimesSchema)
    throughput = _required(fields.Nested, ThroughputSchema)
    error_rates = _required(fields.Nested, ErrorRatesSchema)
    error_counts = _required(fields.Dict, keys=fields.String(), values=fields.Integer())
    requests = _required(fields.Integer)
    escalations = _required(fields.Nested, EscalationCountsSchema)


class SentimentCountsSchema(Schema):
    """Tasks completed in the window, by ``result.sentiment``."""

    positive = _required(fields.Integer)
    neutral = _required(fields.Integer)
    negative = _required(fields.Integer)
    mixed = _required(fields.Integer)
    unknown = _required(fields.Integer)


class ChannelSchema(Schema):
    status = _one_of([ACTIVE, IDLE, DEGRADED, "paused"])
    current_load = _required(fields.Integer)
    response_time = _nullable(fields.String, metadata={"example": "2.01s"})
    response_time_ms = _nullable(fields.Float)
    response_time_p95_ms = _nullable(fields.Float)
    queued = _required(fields.Integer)
    processing = _required(fields.Integer)
    workers = _required(fields.Integer)
    completed = _required(fields.Integer)
    failed = _required(fields.Integer)
    sentiment = _required(fields.Nested, SentimentCountsSchema)
    escalated = _required(fields.Integer, metadata={
        "description": "Completed tasks flagged for escalation within the window."})


class ChannelsSchema(Schema):
    window_seconds = _required(fields.Integer)
    channels = _required(fields.Dict, keys=fields.String(validate=validate.OneOf(CHANNELS)),
                         values=fields.Nested(ChannelSchema))
    priorities = _required(fields.Dict, keys=fields.String(validate=validate.OneOf(PRIORITIES)),
                           values=fields.String(validate=validate.OneOf(["active", "paused"])),
                           metadata={"description": "Whether each priority is paused."})


class CustomerMessageSchema(Schema):
    """One of a customer's recent messages."""

    task_id = _required(fields.String)
    at = _required(fields.String, metadata={**TIMESTAMP, "description": "When it completed."})
    channel = _one_of(CHANNELS)
    sentiment = _required(fields.String, metadata={"example": "negative"})
    compound = _required(fields.Float, validate=validate.Range(min=-1, max=1))


class CustomerTrendSchema(Schema):
    """The recent half's mean compound against the earlier half's."""

    direction = _one_of([IMPROVING, STABLE, WORSENING])
    change = _required(fields.Float, metadata={"description": "recent_mean - earlier_mean"})
    earlier_mean = _required(fields.Float)
    recent_mean = _required(fields.Float)
    compared = _required(fields.Integer, metadata={"description": "Messages in each half."})


class CustomerSentimentSchema(Schema):
    """``GET /customers/{customer_id}/sentiment``."""

    customer_id = _required(fields.String)
    messages = _required(fields.List, fields.Nested(CustomerMessageSchema),
                         metadata={"description": "Newest first."})
    trend = _required(fields.Nested, CustomerTrendSchema, allow_none=True, metadata={
        "description": "null with fewer than 2 messages."})
    history_limit = _required(fields.Integer, metadata={
        "description": "Most messages kept per customer (`CUSTOMER_HISTORY_SIZE`)."})


# Schemas the document names by reference ($ref) rather than through a field.
COMPONENTS = {"ErrorEnvelope": ErrorEnvelopeSchema, "BatchItemAnswer": BatchItemAnswerSchema}


class WindowQuerySchema(Schema):
    """``?window=``: the seconds of history a monitoring figure covers."""

    window = fields.Integer(validate=validate.Range(MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS),
                            metadata={"description": "Default `METRICS_WINDOW_SECONDS`."})


class WebhookSchema(Schema):
    """A webhook subscription, without its secret."""

    id = _required(fields.String, metadata={"example": "wh_3f9a1c2b4d5e6f70"})
    url = _required(fields.String)
    events = _required(fields.List, fields.String(validate=validate.OneOf(EVENT_TYPES)))
    description = _nullable(fields.String)
    created_at = _required(fields.String, metadata=TIMESTAMP)


class WebhookCreatedSchema(WebhookSchema):
    """``POST /webhooks``'s answer: the only time the secret is shown."""

    secret = _required(fields.String, metadata={
        "description": "Key of the HMAC-SHA256 signature in `X-Signature`."})


class WebhookListSchema(Schema):
    webhooks = _required(fields.List, fields.Nested(WebhookSchema))
    outbox_length = _required(fields.Integer, metadata={
        "description": "Events waiting for the webhook worker's dispatcher."})


class WebhookDeletedSchema(Schema):
    id = _required(fields.String)
    status = _one_of(["deleted"])


class DeliveryAttemptSchema(Schema):
    """One attempt to deliver one event to one URL."""

    delivery_id = _required(fields.String, metadata={
        "description": "`<event id>:<webhook id>` or `<event id>:callback`: one per target, "
                       "the same on every attempt."})
    event = _one_of(EVENT_TYPES)
    event_id = _required(fields.String)
    task_id = _nullable(fields.String)
    url = _required(fields.String)
    attempt = _required(fields.Integer)
    at = _required(fields.String, metadata=TIMESTAMP)
    status_code = _nullable(fields.Integer, metadata={
        "description": "The receiver's HTTP status; null when none came."})
    error = _nullable(fields.String, metadata={
        "description": "Why it was not delivered: `HTTP 500`, `timeout`, a connection error "
                       "or `refused: ...` (the URL now resolves to a refused address)."})
    duration_ms = _required(fields.Float)
    outcome = _one_of(["delivered", "retrying", "failed"])
    next_attempt_in_seconds = _nullable(fields.Float)


class WebhookDeliveriesSchema(Schema):
    webhook_id = _required(fields.String)
    deliveries = _required(fields.List, fields.Nested(DeliveryAttemptSchema))


class TaskDeliveriesSchema(Schema):
    task_id = _required(fields.String)
    callback_url = _nullable(fields.String)
    deliveries = _required(fields.List, fields.Nested(DeliveryAttemptSchema))


class CallbackSecretSchema(Schema):
    secret = _required(fields.String, metadata={
        "description": "Key of the `X-Signature` of this token's callback deliveries."})
