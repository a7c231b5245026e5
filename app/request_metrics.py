"""Time every API request and count its outcome into Redis (``tasks.api_metrics``)."""
import time

from flask import Flask

from tasks.api_metrics import RequestRecorder

# Load-balancer probes would drown the figures; they say nothing about the API's work.
UNCOUNTED_PATHS = frozenset({"/health/live"})


class RequestTiming:
    """WSGI middleware: every answer counts, errors and auth refusals included."""

    def __init__(self, wsgi_app, recorder: RequestRecorder):
        self.wsgi_app = wsgi_app
        self.recorder = recorder

    def __call__(self, environ, start_response):
        # A WebSocket's "duration" is its whole life: not a response time.
        if (environ.get("HTTP_UPGRADE", "").lower() == "websocket"
                or environ.get("PATH_INFO") in UNCOUNTED_PATHS):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        status = [500]

        def capture(status_line, headers, exc_info=None):
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, capture)
        finally:
            self.recorder.record(status[0], (time.perf_counter() - started) * 1000)


def init_app(app: Flask) -> None:
    """Wrap the app so each request's duration and status are recorded."""
    recorder = RequestRecorder(app.extensions["redis"])
    app.extensions["request_recorder"] = recorder
    app.wsgi_app = RequestTiming(app.wsgi_app, recorder)
