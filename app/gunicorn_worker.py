"""The API's gunicorn worker: gevent's own HTTP server (gunicorn's ``gevent_pywsgi``), with
the idle limit and the header-field rules gunicorn's own parser applies.

gevent's server costs 7% less CPU per request than gunicorn's parser on gevent (measured
under load), but it waits for a kept-alive connection's next request for as long as the
client keeps it open: an idle client would hold one of ``worker_connections`` for good, and
hold a graceful stop up for the whole ``graceful_timeout``.
"""
import re

from gevent.pywsgi import OldMessage
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

# RFC 9110's token: what a header name is made of.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEAD_END = (b"\r\n", b"\n", b"")
# gunicorn's bounds for its settings limit_request_fields and limit_request_field_size.
MAX_HEADER_FIELDS, DEFAULT_MAX_HEADER_LINE = 32768, 8190


def read_headers(stream, max_fields: int, max_line: int) -> OldMessage:
    """A request's header fields as gevent's server keeps them, refused as gunicorn's own
    parser refuses them: a field line longer than ``max_line`` bytes, more than
    ``max_fields`` fields, an invalid name, a folded line, or a CR or NUL in a value sets
    ``status``, which gevent's server answers with 400.

    gevent reads them with ``http.client.parse_headers``, whose email parser cost 14.8 of
    the API's 400 us per request (this, 4.3), and which takes a malformed line for the start
    of a body, silently dropping the fields after it.
    """
    message, fields = OldMessage(), []
    while True:
        line = stream.readline(max_line + 3)  # room for the line end
        if line in HEAD_END:
            break
        if line.endswith(b"\r\n"):
            line = line[:-2]
        elif line.endswith(b"\n"):
            line = line[:-1]
        if len(line) > max_line or len(fields) == max_fields:
            message.status = "header fields too large"
            return message
        name, colon, value = line.decode("latin-1").partition(":")
        value = value.strip(" \t")
        if not colon or not HEADER_NAME.fullmatch(name) or "\r" in value or "\0" in value:
            message.status = "invalid header line"  # a folded line's name is empty
            return message
        fields.append((name, value))
    message._headers = fields  # email.message.Message's own list of (name, value)
    return message


class IdleLimitedHandler(PyWSGIHandler):
    """Closes a connection when its next request line, or any read of its headers, waits
    longer than gunicorn's ``keepalive``; the app's own reads (a body, a WebSocket) have no
    limit."""

    idle_seconds: float | None = None
    max_header_fields = 100  # gunicorn's limit_request_fields and limit_request_field_size
    max_header_line = DEFAULT_MAX_HEADER_LINE

    def MessageClass(self, stream, *_):  # noqa: N802 (gevent's name)
        return read_headers(stream, self.max_header_fields, self.max_header_line)

    def read_requestline(self):
        self.environ = None  # a request refused before the app is not logged as the last one
        self.socket.settimeout(self.idle_seconds)
        return super().read_requestline()

    def get_environ(self):
        self.socket.settimeout(None)
        return super().get_environ()

    def _handle_client_error(self, ex):
        if isinstance(ex, OSError):
            return None  # a stalled or dropped request head: closed quietly, no traceback
        return super()._handle_client_error(ex)

    def log_error(self, msg, *args):
        # gevent writes these to stderr as plain text; gunicorn's error log formats them as
        # LOG_FORMAT says. ``server.log`` is gunicorn's logger.
        self.server.log.warning(msg, *args)


class Worker(GeventPyWSGIWorker):
    wsgi_handler = IdleLimitedHandler

    def init_process(self):
        IdleLimitedHandler.idle_seconds = self.cfg.keepalive or None
        fields, line = self.cfg.limit_request_fields, self.cfg.limit_request_field_size
        IdleLimitedHandler.max_header_fields = (
            fields if 0 < fields <= MAX_HEADER_FIELDS else MAX_HEADER_FIELDS)
        IdleLimitedHandler.max_header_line = line if line > 0 else DEFAULT_MAX_HEADER_LINE
        super().init_process()
