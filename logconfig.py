"""Logging for every process: one JSON object per line, or text for people at a terminal.

``LOG_FORMAT=json`` (the default) writes ``{"timestamp", "level", "logger", "message", "pid"}``,
``request_id`` and ``task_id`` when known and whatever a call passes as ``extra``; an
exception adds ``exc_info`` (the traceback as one string). ``LOG_FORMAT=text`` writes the same
records as ``<time> <LEVEL> <logger> [request_id=… task_id=…] <message>``.

Context comes from ``bind()`` (the API binds each request's id for the request's duration)
or from ``extra={"request_id": …, "task_id": …}`` on one call; ``extra`` wins.
"""
import logging
import sys
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter

FORMATS = ("json", "text")
CONTEXT_FIELDS = ("request_id", "task_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(context)s%(message)s"
# Celery logs two lines per message at INFO ("received", "succeeded") that name only its own
# message id; the task module logs one line per message with the platform's ids instead.
CELERY_PER_MESSAGE_LOGGERS = ("celery.worker.strategy", "celery.app.trace")

_context: ContextVar[dict | None] = ContextVar("log_context", default=None)


def bind(**fields) -> Token:
    """Add ``fields`` to every record logged in this context until ``unbind(token)``."""
    return _context.set({**(_context.get() or {}), **fields})


def unbind(token: Token) -> None:
    _context.reset(token)


def _context_of(record: logging.LogRecord) -> dict:
    """request_id and task_id of ``record``: its own ``extra`` first, then the bound ones."""
    bound = _context.get() or {}
    found = {}
    for field in CONTEXT_FIELDS:
        value = record.__dict__.get(field) or bound.get(field)
        if value:
            found[field] = value
    return found


class JsonLines(JsonFormatter):
    """python-json-logger's formatter with the platform's field names and context."""

    def __init__(self, *args, **kwargs):
        super().__init__("{levelname}{name}{message}{process}", style="{",
                         json_ensure_ascii=False,
                         rename_fields={"levelname": "level", "name": "logger", "process": "pid"})

    def add_fields(self, log_data, record, message_dict) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(
            record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        for field, value in _context_of(record).items():
            log_data[field] = value


# The WSGI environ keys under which a request keeps its id and names the task it created
# (app.request_ids), and the access atoms that read them. From the environ, not the answer's
# X-Request-ID header: gunicorn's workers hand the logger headers as str or as bytes.
REQUEST_ID_ENVIRON_KEY, TASK_ID_ENVIRON_KEY = "sp.request_id", "sp.task_id"
REQUEST_ID_ATOM, TASK_ID_ATOM = ("{" + REQUEST_ID_ENVIRON_KEY + "}e",
                                 "{" + TASK_ID_ENVIRON_KEY + "}e")


def access_context(atoms) -> dict:
    """request_id and task_id of gunicorn's access atoms."""
    found = {}
    for field, atom in (("request_id", REQUEST_ID_ATOM), ("task_id", TASK_ID_ATOM)):
        if atoms[atom] != "-":
            found[field] = atoms[atom]
    return found


class AccessJsonLines(JsonLines):
    """gunicorn's access log as fields: its record's args are the request's atoms.

    The path is ``PATH_INFO``, never the query string: a client that puts a token in the URL
    must not have it written to the log.
    """

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        atoms = record.args
        if not isinstance(atoms, dict):
            return
        log_data.update(method=atoms["m"], path=atoms["U"], status=_int(atoms["s"]),
                        bytes=_int(atoms["B"]), duration_ms=round(atoms["D"] / 1000, 3),
                        remote_addr=atoms["h"], user_agent=atoms["a"], **access_context(atoms))


class DashForMissing(dict):
    """Access atoms as gunicorn's ``SafeAtoms`` reads them (an unknown one is ``-``), but
    looked up by ``dict`` itself: a line reads its atoms about 19 times."""

    def __missing__(self, key):
        return "-"


class AccessAtoms(glogging.Logger):
    """gunicorn's logger, building only the access atoms this platform's lines use.

    gunicorn's own ``atoms`` copies every request and response header and formats a date for
    each request, and ``SafeAtoms`` runs Python code on each lookup: 44% of the access log's
    cost (26.4 against 14.8 us a line), and the access log was a sixth of the API process's
    CPU under load (py-spy).
    These are the atoms of ``access_log_format`` (``app.gunicorn_config``) and of
    ``AccessJsonLines``, quotes escaped as gunicorn escapes them; any other reads as ``-``.
    """

    atoms_wrapper_class = DashForMissing

    def atoms(self, resp, req, environ, request_time):
        environ = environ or {}  # None for a request gevent's server refused before the app
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        micros = request_time.seconds * 1_000_000 + request_time.microseconds
        return {"h": environ.get("REMOTE_ADDR", "-"), "m": environ.get("REQUEST_METHOD", "-"),
                "U": _quoted(environ.get("PATH_INFO", "-")),
                "H": environ.get("SERVER_PROTOCOL", "-"),
                "s": status, "B": getattr(resp, "sent", None),
                "a": _quoted(environ.get("HTTP_USER_AGENT", "-")), "D": micros,
                "M": micros // 1000, REQUEST_ID_ATOM: environ.get(REQUEST_ID_ENVIRON_KEY, "-"),
                TASK_ID_ATOM: environ.get(TASK_ID_ENVIRON_KEY, "-")}


def _quoted(value):
    return value.replace('"', '\\"') if isinstance(value, str) else value


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class TextLines(logging.Formatter):
    """Plain lines for a terminal, with the context in brackets."""

    def __init__(self, *args, **kwargs):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        context = _context_of(record)
        record.context = ("[" + " ".join(f"{k}={v}" for k, v in context.items()) + "] "
                          if context else "")
        return super().format(record)


class AccessTextLines(TextLines):
    """gunicorn's access line with the request's ids in brackets, like every other line."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, dict):
            record.__dict__.update(access_context(record.args))
        return super().format(record)


def formatter(log_format: str, access: bool = False) -> logging.Formatter:
    """The formatter of ``LOG_FORMAT``; ``access`` for gunicorn's access log."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    if log_format == "text":
        return AccessTextLines() if access else TextLines()
    return AccessJsonLines() if access else JsonLines()


def configure(log_format: str, level: str | int, stream=None, logfile: str | None = None
              ) -> None:
    """Send every logger's records through one handler on the root logger, in ``log_format``."""
    handler = (logging.FileHandler(logfile, encoding="utf-8") if logfile
               else logging.StreamHandler(stream or sys.stdout))
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_level(level))


def quiet_celery_per_message_lines(level: str | int) -> None:
    """Above DEBUG, Celery's own per-message INFO lines give way to the task module's."""
    if _level(level) > logging.DEBUG:
        for name in CELERY_PER_MESSAGE_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def gunicorn_config(log_format: str, level: str) -> dict:
    """gunicorn's ``logconfig_dict``: its error and access logs, and the app's, on stdout."""
    factory = f"{__name__}.formatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "lines": {"()": factory, "log_format": log_format},
            "access": {"()": factory, "log_format": log_format, "access": True},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "lines",
                        "stream": "ext://sys.stdout"},
            "access": {"class": "logging.StreamHandler", "formatter": "access",
                       "stream": "ext://sys.stdout"},
        },
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["console"],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    return logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
