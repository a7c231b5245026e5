"""The error envelope and every error code the API answers with, in one place.

Every error, including Flask's own 404/405/413 and anything unexpected, leaves as
``{"error": {"code", "message", "details"}}``; no stack trace reaches a client.
"""
import logging
from dataclasses import dataclass

import kombu.exceptions
import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meaning: str


_CODES = (
    ErrorCode("INVALID_INPUT", 400, "Request validation failed: malformed JSON, a wrong type, "
              "an unknown or missing field; `details` names each failing field."),
    ErrorCode("UNAUTHORIZED", 401, "Authentication failed: no `Authorization: Bearer` "
              "header, or an unknown token."),
    ErrorCode("FORBIDDEN", 403, "The token is valid but may not use this route."),
    ErrorCode("CSRF_REJECTED", 403, "A dashboard session (cookie) made a change without its "
              "CSRF token (`X-CSRFToken`), or opened a WebSocket from another origin."),
    ErrorCode("TASK_NOT_FOUND", 404, "Task ID doesn't exist (never did, expired, or belongs "
              "to another channel token)."),
    ErrorCode("NOT_FOUND", 404, "No such route."),
    ErrorCode("CHANNEL_NOT_FOUND", 404, "No such channel; `details` lists the channels."),
    ErrorCode("PRIORITY_NOT_FOUND", 404, "No such priority; `details` lists the priorities."),
    ErrorCode("TASK_NOT_RETRYABLE", 409, "Only a failed task can be retried."),
    ErrorCode("TASK_NOT_CANCELLABLE", 409, "Only a task still waiting can be cancelled."),
    ErrorCode("METHOD_NOT_ALLOWED", 405, "The route exists but not for this method; see the "
              "`Allow` header."),
    ErrorCode("PAYLOAD_TOO_LARGE", 413, "The request body is larger than `MAX_CONTENT_LENGTH`."),
    ErrorCode("UNSUPPORTED_MEDIA_TYPE", 415, "The body is not `application/json`."),
    ErrorCode("RATE_LIMITED", 429, "Too many requests for this token, or too many wrong "
              "tokens from this address; see `Retry-After`."),
    ErrorCode("INTERNAL_ERROR", 500, "An unexpected fault; it is logged, never shown."),
    ErrorCode("REDIS_UNAVAILABLE", 503, "Redis (broker and registry) cannot be reached; "
              "nothing was accepted. Retry with backoff."),
    ErrorCode("QUEUE_FULL", 503, "System at capacity; see `Retry-After`."),
    ErrorCode("WORKER_OFFLINE", 503, "Worker is not available."),
    ErrorCode("WORKER_EXISTS", 409, "A worker with this id is running or starting."),
    ErrorCode("WORKER_NOT_FOUND", 404, "No worker with this id was seen within "
              "`WORKER_FORGET_SECONDS`."),
    ErrorCode("URL_NOT_ALLOWED", 400, "A `callback_url` or webhook `url` that resolves to a "
              "loopback, link-local, private, multicast, reserved or unspecified address, or "
              "does not resolve; `details` says which. See `WEBHOOK_ALLOW_PRIVATE`."),
    ErrorCode("WEBHOOK_NOT_FOUND", 404, "No webhook subscription with this id."),
    ErrorCode("WEBHOOK_LIMIT", 409, "The most webhook subscriptions (100) exist already."),
    ErrorCode("WEBSOCKET_LIMIT", 503, "This API process holds its `WS_MAX_CONNECTIONS` "
              "WebSockets; retry (another process may take it)."),
)
CODES = {error.code: error for error in _CODES}

# Codes a task can end with (in `GET /task/{id}`'s `error`), not HTTP answers.
TASK_ERROR_CODES = {
    "TASK_EXPIRED": "The task was not started before its `timeout`.",
    "ANALYSIS_FAILED": "The analysis raised an error for this text.",
    "TASK_TIMEOUT": "The analysis ran past `TASK_SOFT_TIME_LIMIT_SECONDS`.",
    "TOO_MANY_ATTEMPTS": "The worker was lost during each of `MAX_ATTEMPTS` attempts.",
}

_HTTP_CODES = {400: "INVALID_INPUT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMITED"}


class APIError(Exception):
    """An error answer: raise it anywhere in a request."""

    def __init__(self, code: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.status = CODES[code].status
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def envelope(code: str, message: str, details: dict | None = None) -> dict:
    """The seed's error body."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _respond(error: APIError):
    response = jsonify(envelope(error.code, error.message, error.details))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _from_http(exc: HTTPException):
    code = _HTTP_CODES.get(exc.code or 500, "INTERNAL_ERROR")
    error = APIError(code, exc.description or exc.name)
    error.status = exc.code or 500
    # Keep what werkzeug put on the exception (Allow on 405, for one).
    response = exc.get_response()
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response.headers:
            error.headers[header] = response.headers[header]
    return _respond(error)


def _from_redis(exc: Exception):
    logger.warning("Redis unavailable: %s", exc)
    return _respond(APIError("REDIS_UNAVAILABLE", "The task store is unreachable; retry later.",
                             headers={"Retry-After": "1"}))


def _from_redis_reply(exc: redis.ResponseError):
    # Under maxmemory-policy noeviction Redis refuses writes (inside a script too, before
    # its first write, so nothing is half-stored): the system is at capacity.
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or "OOM command" in str(exc):
        logger.warning("Redis out of memory: %s", exc)
        return _respond(APIError("QUEUE_FULL", "System at capacity; retry later.",
                                 {"reason": "Redis is out of memory"},
                                 headers={"Retry-After": "30"}))
    return _from_unexpected(exc)


def _from_unexpected(exc: Exception):
    logger.exception("unhandled error")
    return _respond(APIError("INTERNAL_ERROR", "Internal error."))


def init_app(app: Flask) -> None:
    """Answer every error in the envelope."""
    app.register_error_handler(APIError, _respond)
    app.register_error_handler(HTTPException, _from_http)
    for exc in (redis.ConnectionError, redis.TimeoutError, kombu.exceptions.OperationalError):
        app.register_error_handler(exc, _from_redis)
    app.register_error_handler(redis.ResponseError, _from_redis_reply)
    app.register_error_handler(Exception, _from_unexpected)
