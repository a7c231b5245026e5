"""The API's HTTP server (app.gunicorn_worker, gevent's server under gunicorn), end to end:
idle and stalled connections are closed, a request refused before the app is still logged,
and a graceful stop does not wait for idle clients."""
import json
import socket
import time

import pytest

from conftest import APIServer

KEEPALIVE_SECONDS = 2  # app/gunicorn_config.py: keepalive


def connect(server: APIServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_response(connection: socket.socket) -> bytes:
    """One whole answer of a route that sends Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(4096)
    return head


def seconds_until_closed(connection: socket.socket) -> float:
    started = time.monotonic()
    assert connection.recv(1) == b""  # the server closed it, sending nothing
    return time.monotonic() - started


def new_log_lines(server: APIServer, offset: int) -> list[str]:
    server.log.flush()
    return server.log_path.read_text(encoding="utf-8")[offset:].splitlines()


def test_an_idle_kept_alive_connection_is_closed_after_keepalive(api_server):
    with connect(api_server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(connection).startswith(b"HTTP/1.1 200")
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(connection).startswith(b"HTTP/1.1 200")  # kept alive
        assert KEEPALIVE_SECONDS - 0.5 < seconds_until_closed(connection) < KEEPALIVE_SECONDS + 3


def test_a_stalled_request_head_is_closed_without_a_traceback(api_server):
    offset = len(api_server.log_path.read_text(encoding="utf-8"))
    with connect(api_server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")  # never ends
        assert seconds_until_closed(connection) < KEEPALIVE_SECONDS + 3
    assert not [line for line in new_log_lines(api_server, offset) if "Traceback" in line]


def test_a_malformed_request_is_refused_and_logged(api_server):
    offset = len(api_server.log_path.read_text(encoding="utf-8"))
    with connect(api_server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        read_response(connection)
        connection.sendall(b"NOT A REQUEST LINE\r\n\r\n")
        assert read_response(connection).startswith(b"HTTP/1.1 400")

    def access_lines():
        lines = [json.loads(line) for line in new_log_lines(api_server, offset)
                 if line.startswith("{")]
        return [line for line in lines if line["logger"] == "gunicorn.access"]

    deadline = time.monotonic() + 5
    while len(access_lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    served, refused = access_lines()
    assert (served["status"], served["path"]) == (200, "/health/live")
    # Not logged as the connection's previous request.
    assert (refused["status"], refused["path"], refused["method"]) == (400, "-", "-")
    # gevent's own complaint about it is a log line like every other (LOG_FORMAT is json).
    complaints = [json.loads(line) for line in new_log_lines(api_server, offset)
                  if "NOT A REQUEST LINE" in line]
    assert [(line["logger"], line["level"]) for line in complaints] == [
        ("gunicorn.error", "WARNING")], complaints
    assert not [line for line in new_log_lines(api_server, offset) if "Traceback" in line]


@pytest.mark.parametrize("head", [
    b"Host: t\r\nX-Folded: a\r\n b\r\n",  # obsolete line folding
    b"Host: t\r\nBad Name: x\r\n",  # a space in the name
    b"Content-Length : 0\r\nHost: t\r\n",  # a space before the colon
    b"Host: t\r\nX-Bare: a\rb\r\n",  # a lone CR in a value
    b"Host: t\r\nX-Long: " + b"x" * 8191 + b"\r\n",  # gunicorn's limit_request_field_size
    b"".join(b"X-%d: v\r\n" % i for i in range(101)),  # over limit_request_fields
], ids=["folded", "name", "space-before-colon", "bare-cr", "too-long", "too-many"])
def test_a_malformed_header_field_refuses_the_request(api_server, head):
    # gevent's own reading (Python's email parser) took such a line for the start of the
    # body, dropping the fields after it, or kept part of it.
    with connect(api_server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\n" + head + b"\r\n")
        assert read_response(connection).startswith(b"HTTP/1.1 400")


def test_header_fields_within_the_limits_are_read_whole(api_server):
    # 100 fields, each up to 8,190 bytes, as gunicorn's defaults allow.
    head = b"".join(b"X-Filler-%d: v\r\n" % i for i in range(97))
    head += b"X-Long: " + b"x" * 8182 + b"\r\nHost: t\r\nX-Request-ID:   spaced-id \t\r\n"
    with connect(api_server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\n" + head + b"\r\n")
        answer = read_response(connection)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"\r\nX-Request-ID: spaced-id\r\n" in answer  # the value, without its spaces


def test_a_graceful_stop_does_not_wait_for_idle_clients(redis_server, tmp_path):
    server = APIServer(redis_server.url, tmp_path / "gunicorn.log")
    with connect(server) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        read_response(connection)
        started = time.monotonic()
        server.stop()
        # gunicorn's graceful_timeout is 20 s: the idle connection closes after keepalive.
        assert time.monotonic() - started < KEEPALIVE_SECONDS + 5
