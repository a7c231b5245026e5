"""Request ids: every answer carries ``X-Request-ID``, and every log line of the request too.

The client's own ``X-Request-ID`` is kept when it is 1 to 128 letters, digits or ``-_.:/+=@``
(a UUID, a trace id, a proxy's id); anything else is replaced by a new id (32 hex
digits), so a log line can never be forged or broken through the header. The id lives in
the WSGI environ and ``flask.g`` of its request only. A WSGI middleware, outside Flask, sets
it: every answer gets the header, whichever error handler (or none) produced it.
"""
import re
import secrets

from flask import Flask, g, request

import logconfig

HEADER = "X-Request-ID"
ACCEPTED = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def accepted_or_new(incoming: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if incoming is not None and ACCEPTED.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)  # as random as a uuid4, at a tenth of its cost


class RequestIds:
    """WSGI middleware: pick the request's id, bind it for logging, add it to the answer."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        request_id = accepted_or_new(environ.get("HTTP_X_REQUEST_ID"))
        environ[logconfig.REQUEST_ID_ENVIRON_KEY] = request_id  # read by the access log too

        def with_header(status, headers, exc_info=None):
            headers.append((HEADER, request_id))  # nothing inside the app sets it
            return start_response(status, headers, exc_info)

        token = logconfig.bind(request_id=request_id)
        try:
            return self.wsgi_app(environ, with_header)
        finally:
            logconfig.unbind(token)


def current() -> str:
    """This request's id, kept in ``flask.g`` for the request."""
    if "request_id" not in g:
        g.request_id = (request.environ.get(logconfig.REQUEST_ID_ENVIRON_KEY)
                        or accepted_or_new(None))
    return g.request_id


def note_task(task_id: str) -> None:
    """Name the task this request created in its access log line."""
    request.environ[logconfig.TASK_ID_ENVIRON_KEY] = task_id  # read by the access log


def init_app(app: Flask) -> None:
    """Wrap the whole app: call it after every other WSGI middleware."""
    app.wsgi_app = RequestIds(app.wsgi_app)
