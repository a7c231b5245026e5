"""Log formats: the JSON fields, the text form, gunicorn's access line, the console view."""
import io
import json
import logging

import pytest
from gunicorn.glogging import SafeAtoms

import logconfig
import settings
from workers.log_listener import LinePrefixer, readable


@pytest.fixture
def capture():
    """Route a private logger's records through ``logconfig`` into a string."""
    def make(log_format: str):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logconfig.formatter(log_format))
        logger = logging.getLogger(f"test.logconfig.{log_format}")
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.DEBUG)
        return logger, stream
    return make


def test_a_json_line_has_the_fields_and_the_bound_context(capture):
    logger, stream = capture("json")
    token = logconfig.bind(request_id="req-1")
    try:
        logger.info("stored %d tasks", 2, extra={"task_id": "task_a", "queue": "chat"})
    finally:
        logconfig.unbind(token)
    logger.warning("after the request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["timestamp"].endswith("+00:00")
    assert {"level": "INFO", "logger": "test.logconfig.json", "message": "stored 2 tasks",
            "request_id": "req-1", "task_id": "task_a", "queue": "chat"}.items() <= first.items()
    assert isinstance(first["pid"], int)
    assert "request_id" not in second and second["level"] == "WARNING"


def test_an_explicit_id_wins_over_the_bound_one_and_exceptions_stay_on_one_line(capture):
    logger, stream = capture("json")
    token = logconfig.bind(request_id="outer")
    try:
        try:
            raise ValueError("bad text")
        except ValueError:
            logger.exception("task failed", extra={"request_id": "inner"})
    finally:
        logconfig.unbind(token)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["request_id"] == "inner"
    assert "ValueError: bad text" in record["exc_info"]


def test_the_text_form_shows_the_context_in_brackets(capture):
    logger, stream = capture("text")
    logger.info("analysed", extra={"request_id": "req-2", "task_id": "task_b"})
    logger.info("no context")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" INFO test.logconfig.text [request_id=req-2 task_id=task_b] analysed")
    assert second.endswith(" INFO test.logconfig.text no context")


def test_the_access_line_carries_the_request_as_fields():
    atoms = SafeAtoms({"h": "10.0.0.9", "m": "POST", "U": "/task", "s": "202", "B": 91,
                       "D": 2345, "a": "curl/8", "{sp.request_id}e": "req-3",
                       "{sp.task_id}e": "task_c", "q": "token=secret"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                               '%(h)s "%(m)s %(U)s" %(s)s %({sp.request_id}e)s', (atoms,), None)
    line = json.loads(logconfig.formatter("json", access=True).format(record))
    assert line["message"] == '10.0.0.9 "POST /task" 202 req-3'
    assert {"method": "POST", "path": "/task", "status": 202, "bytes": 91, "duration_ms": 2.345,
            "remote_addr": "10.0.0.9", "user_agent": "curl/8", "request_id": "req-3",
            "task_id": "task_c"}.items() <= line.items()
    assert "secret" not in json.dumps(line)
    text = logconfig.formatter("text", access=True).format(record)
    assert text.endswith(' INFO gunicorn.access [request_id=req-3 task_id=task_c] '
                         '10.0.0.9 "POST /task" 202 req-3')


def test_log_format_accepts_json_or_text_only():
    assert settings.load({})["LOG_FORMAT"] == "json"
    assert settings.load({"LOG_FORMAT": " Text "})["LOG_FORMAT"] == "text"
    with pytest.raises(ValueError):
        settings.load({"LOG_FORMAT": "xml"})
    with pytest.raises(ValueError):
        logconfig.formatter("xml")


def test_the_console_shows_json_lines_as_short_text():
    line = json.dumps({"timestamp": "2026-11-29T14:18:56.087+00:00", "level": "ERROR",
                       "logger": "tasks.sentiment", "message": "task task_d failed",
                       "pid": 7, "request_id": "req-4", "task_id": "task_d",
                       "exc_info": "Traceback (most recent call last):\nValueError: x"})
    assert readable(line) == ("14:18:56.087 ERROR tasks.sentiment [request_id=req-4 "
                              "task_id=task_d] task task_d failed\n"
                              "Traceback (most recent call last):\nValueError: x")
    for other in ("plain text", "{not json", '{"no": "message"}', "[1, 2]"):
        assert readable(other) == other
    assert LinePrefixer().feed("worker", line + "\n").splitlines() == [
        "worker | 14:18:56.087 ERROR tasks.sentiment [request_id=req-4 task_id=task_d] "
        "task task_d failed",
        "worker | Traceback (most recent call last):",
        "worker | ValueError: x"]


class Response:
    status = "202 ACCEPTED"
    sent = 91
    headers = [("Content-Type", "application/json"), ("X-Request-ID", "req-4")]


@pytest.mark.parametrize("user_agent", ["curl/8", 'say "hi"'])
def test_the_lean_access_atoms_give_gunicorns_own_line(user_agent):
    from datetime import timedelta

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from app import gunicorn_config

    config = Config()
    config.set("access_log_format", gunicorn_config.access_log_format)
    environ = {"REMOTE_ADDR": "10.0.0.9", "REQUEST_METHOD": "POST", "PATH_INFO": "/task",
               "QUERY_STRING": "token=secret", "RAW_URI": "/task?token=secret",
               "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": user_agent,
               "sp.request_id": "req-4", "sp.task_id": "task_d"}
    lines = []
    for logger_class in (Logger, logconfig.AccessAtoms):
        logger = logger_class(config)
        atoms = logger.atoms_wrapper_class(
            logger.atoms(Response, [("USER-AGENT", user_agent)], environ,
                         timedelta(microseconds=2345)))
        record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                                   config.access_log_format, (atoms,), None)
        line = json.loads(logconfig.formatter("json", access=True).format(record))
        lines.append({k: v for k, v in line.items() if k not in ("timestamp", "pid")})

    gunicorns, lean = lines
    assert lean == gunicorns
    assert lean["request_id"] == "req-4" and lean["task_id"] == "task_d"


def test_gunicorn_runs_with_the_lean_access_atoms():
    from app import gunicorn_config

    assert gunicorn_config.logger_class == "logconfig.AccessAtoms"
