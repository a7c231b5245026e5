"""Turn a request body into validated data, or an ``INVALID_INPUT``/415 error."""
from flask import request
from marshmallow import Schema, ValidationError
from marshmallow.exceptions import SCHEMA
from werkzeug.exceptions import BadRequest

from app.errors import APIError


def flatten(messages, path: str = "") -> dict[str, str]:
    """marshmallow's nested messages as ``{"data.text": "message"}``."""
    if isinstance(messages, dict):
        flat = {}
        for key, value in messages.items():
            if key == SCHEMA:  # an error about the object itself, not one of its fields
                flat.update(flatten(value, path))
            else:
                flat.update(flatten(value, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {path or "body": " ".join(messages)}
    return {path or "body": str(messages)}


def json_body():
    """The request's JSON document; 415 when it is not JSON, 400 when it does not parse."""
    if not request.is_json:
        raise APIError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json.",
                       {"content_type": request.content_type or "(none)"})
    try:
        return request.get_json()
    except BadRequest:  # a parser-specific message; 413 and others must pass through
        raise APIError("INVALID_INPUT", "The body is not valid JSON.",
                       {"body": "Malformed JSON."}) from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise APIError("INVALID_INPUT", "The body is not valid JSON.",
                       {"body": "Nested too deeply."}) from None


def load(schema: Schema) -> dict:
    """The request body validated by ``schema``."""
    try:
        return schema.load(json_body())
    except ValidationError as exc:
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       flatten(exc.messages)) from None
