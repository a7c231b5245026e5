"""Per-token rate limiting with flask-limiter, counted in Redis so every process shares it.

One limit (``RATE_LIMIT``) covers all of a token's requests across routes, processes and
hosts. Responses carry ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset``; a request over the limit gets 429 ``RATE_LIMITED`` with
``Retry-After``. When Redis cannot be reached the limit is not enforced (fail open): the
routes that need Redis answer 503 anyway, and monitoring keeps working.
"""
from flask import Flask, Response, g, request
from flask_limiter import Limiter

from tasks import keys

# Short waits: a Redis outage must not add seconds to every request before it fails open.
STORAGE_TIMEOUT_SECONDS = 0.5


def _token_id() -> str:
    """The rate-limit bucket: the authenticated token, else the client address."""
    principal = g.get("principal")
    return f"token:{principal.id}" if principal else f"addr:{request.remote_addr}"


def _request_cost() -> int:
    """A batch counts each of its messages against the limit, like single submissions."""
    if request.endpoint == "tasks.submit_batch":
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("tasks"), list):
            return max(len(body["tasks"]), 1)
    return 1


def _retry_after_only_on_refusals(response: Response) -> Response:
    """Keep ``Retry-After`` for answers that ask the client to wait.

    flask-limiter adds it, as its window's reset, to every answer; on a 202 a client that
    honours it would pause for nothing. The ``X-RateLimit-*`` headers still say the same.
    """
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    """Limit every authenticated request; call after ``auth.init_app`` so tokens are known."""
    limit = app.config["RATE_LIMIT"].strip()
    app.config.setdefault("RATELIMIT_ENABLED", limit.lower() != "off")
    limiter = Limiter(
        key_func=_token_id,
        application_limits=[] if limit.lower() == "off" else [limit],
        application_limits_cost=_request_cost,
        storage_uri=app.config["REDIS_URL"],
        storage_options={"socket_timeout": STORAGE_TIMEOUT_SECONDS,
                         "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS},
        key_prefix=keys.RATE_LIMIT,
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
    )
    # Registered before the limiter's own hook, so it runs after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_on_refusals)
    limiter.init_app(app)
    for view in app.view_functions.values():
        if getattr(view, "auth_public", False):
            limiter.exempt(view)
    app.extensions["rate_limiter"] = limiter
