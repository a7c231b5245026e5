"""marshmallow schemas of the request bodies; one schema per payload."""
from marshmallow import Schema, ValidationError, fields, validate, validates

from tasks.queues import CHANNELS, DEFAULT_PRIORITY, PRIORITIES
from tasks.sentiment import TASK_TYPES


class TaskDataSchema(Schema):
    """The ``data`` of a submission: the message and how to treat it."""

    text = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    customer_id = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    priority = fields.String(load_default=DEFAULT_PRIORITY, validate=validate.OneOf(PRIORITIES))
    timeout = fields.Float(load_default=None, allow_nan=False,
                           validate=validate.Range(min=0, min_inclusive=False))

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
