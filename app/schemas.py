"""marshmallow schemas of the request bodies; one schema per payload."""
import re
from datetime import UTC
from urllib.parse import urlsplit

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from tasks.queues import CHANNELS, DEFAULT_PRIORITY, PRIORITIES
from tasks.registry import TASK_STATUSES
from tasks.sentiment import TASK_TYPES
from tasks.webhooks.store import EVENT_TYPES

# C0 controls but tab, newline and carriage return; DEL; C1 controls; lone surrogates
# (JSON's \ud800 escapes), which no UTF-8 store can hold.
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(value: str) -> None:
    """Refuse control characters and unpaired surrogates."""
    if UNPRINTABLE.search(value):
        raise ValidationError("Contains control characters or invalid Unicode.")


MAX_URL_CHARS = 2048
# What the OpenAPI document can say of a web_url; where it resolves it cannot.
WEB_URL_DOC = {"format": "uri", "maxLength": MAX_URL_CHARS,
               "pattern": r"^https?://[^\s/?#@]+([/?#]\S*)?$",
               "example": "https://crm.example.com/hooks/sentiment"}
_WEB_URL = validate.URL(schemes={"http", "https"}, require_tld=False,
                        error="Not an http or https URL.")


def web_url(value: str) -> None:
    """An absolute http(s) URL without credentials; where it points is checked apart
    (``tasks.webhooks.addresses``), since that needs a DNS lookup."""
    if len(value) > MAX_URL_CHARS:
        raise ValidationError(f"Longer than {MAX_URL_CHARS} characters.")
    printable(value)
    _WEB_URL(value)
    if "@" in urlsplit(value).netloc:
        raise ValidationError("Credentials in the URL are not supported.")


def customer_id_field(**kwargs) -> fields.String:
    """A customer id: 1 to 128 characters, no control characters."""
    return fields.String(validate=[validate.Length(min=1, max=128), printable], **kwargs)


class TaskDataSchema(Schema):
    """The ``data`` of a submission: the message and how to treat it."""

    text = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    customer_id = customer_id_field(load_default=None)
    priority = fields.String(load_default=DEFAULT_PRIORITY, validate=validate.OneOf(PRIORITIES))
    timeout = fields.Float(load_default=None, allow_nan=False,
                           validate=validate.Range(min=0, min_inclusive=False))
    # POSTed the signed outcome (task.completed or task.failed) once the task ends.
    callback_url = fields.String(load_default=None, validate=web_url, metadata=WEB_URL_DOC)

    def __init__(self, max_text_chars: int, max_timeout_seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.max_text_chars = max_text_chars
        self.max_timeout_seconds = max_timeout_seconds

    @validates("text")
    def _text_has_words(self, value: str, data_key: str) -> None:
        if not value.strip():
            raise ValidationError("Text must not be empty.")
        if len(value) > self.max_text_chars:
            raise ValidationError(f"Text longer than {self.max_text_chars} characters.")
        printable(value)

    @validates("timeout")
    def _timeout_bounded(self, value: float | None, data_key: str) -> None:
        if value is not None and value > self.max_timeout_seconds:
            raise ValidationError(f"Timeout above {self.max_timeout_seconds} seconds.")


class TaskSubmissionSchema(Schema):
    """The body of ``POST /task``."""

    type = fields.String(required=True, validate=validate.OneOf(TASK_TYPES))
    data = fields.Nested(TaskDataSchema, required=True)

    def __init__(self, max_text_chars: int, max_timeout_seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.fields["data"].nested = TaskDataSchema(max_text_chars, max_timeout_seconds)


class WorkerConfigSchema(Schema):
    """The ``config`` of ``POST /workers``: how the new worker runs."""

    # Tasks a pool process runs before it is replaced (celery --max-tasks-per-child).
    max_tasks = fields.Integer(strict=True, load_default=None,
                               validate=validate.Range(min=1, max=1_000_000))
    # Seconds one task may run: soft time limit (the task fails TASK_TIMEOUT), hard limit 5 s on.
    timeout = fields.Float(load_default=None, allow_nan=False)
    concurrency = fields.Integer(strict=True, load_default=None,
                                 validate=validate.Range(min=1, max=64))
    queues = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=None,
                         validate=validate.Length(min=1))
    # The priorities it takes (celery worker --priorities): ["high"] for another urgent lane.
    priorities = fields.List(fields.String(validate=validate.OneOf(PRIORITIES)),
                             load_default=None, validate=validate.Length(min=1))

    def __init__(self, max_timeout_seconds: float, **kwargs):
        super().__init__(**kwargs)
        # A task must end (hard limit) before the requeue sweep takes it for lost.
        self.fields["timeout"].validators = [
            validate.Range(min=1, max=max_timeout_seconds, max_inclusive=False)]


class WorkerStartSchema(Schema):
    """The body of ``POST /workers``."""

    worker_id = fields.Integer(strict=True, load_default=None,
                               validate=validate.Range(min=0, max=9999))
    config = fields.Nested(WorkerConfigSchema, load_default=None)
    host = fields.String(load_default=None, validate=validate.Length(min=1, max=255))

    def __init__(self, max_timeout_seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.fields["config"].nested = WorkerConfigSchema(max_timeout_seconds)


MAX_WAIT_SECONDS = 30  # under the usual 60 s idle limit of proxies and load balancers


class TaskQuerySchema(Schema):
    """The query of ``GET /task/{id}``."""

    class Meta:
        unknown = EXCLUDE  # a cache-buster (``?_=...``) is no reason to refuse a read

    wait = fields.Float(load_default=0, allow_nan=False,
                        validate=validate.Range(0, MAX_WAIT_SECONDS),
                        metadata={"description": "Seconds to wait for the task to finish "
                                  "(completed, failed or cancelled) before answering; the "
                                  "answer comes as soon as it does. 0, the default, answers "
                                  "at once."})


class FailedTasksQuerySchema(Schema):
    """Filters of the dead-letter list: ``GET /tasks/failed`` and its retry."""

    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    error_code = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    before = fields.Float(load_default=None, allow_nan=False)


class WebhookSubscriptionSchema(Schema):
    """The body of ``POST /webhooks``."""

    url = fields.String(required=True, validate=web_url, metadata=WEB_URL_DOC)
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True,
                         validate=validate.Length(min=1, max=len(EVENT_TYPES)))
    description = fields.String(load_default=None,
                                validate=[validate.Length(min=1, max=200), printable])


MAX_SEARCH_LIMIT = 500
MAX_PREVIEW_CHARS = 500


class TaskSearchQuerySchema(Schema):
    """The query of ``GET /tasks``: filters, paging and the optional text preview."""

    status = fields.String(load_default=None, validate=validate.OneOf(TASK_STATUSES))
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))
    customer_id = customer_id_field(load_default=None)
    since = fields.AwareDateTime(load_default=None, default_timezone=UTC, metadata={
        "description": "Accepted at or after this time (ISO 8601; UTC when no offset)."})
    until = fields.AwareDateTime(load_default=None, default_timezone=UTC, metadata={
        "description": "Accepted before this time (ISO 8601; UTC when no offset)."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_SEARCH_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1024),
                           metadata={"description": "The `next_cursor` of the previous page."})
    preview = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_PREVIEW_CHARS),
                             metadata={"description": "Characters of each text to include as "
                                                      "`text_preview`; 0 (default): none."})

    @validates_schema
    def _range_is_forward(self, data: dict, **kwargs) -> None:
        if data["since"] and data["until"] and data["since"] >= data["until"]:
            raise ValidationError("Must be later than since.", "until")
