"""The app factory: settings from the environment, overrides, and proxy trust."""
import flask
import pytest

from conftest import bearer, make_app


@pytest.fixture
def echo_app(redis_server, request):
    app = make_app(redis_server.url, TRUSTED_PROXY_COUNT=request.param)
    app.add_url_rule("/whoami", "whoami",
                     lambda: {"addr": flask.request.remote_addr, "url": flask.request.host_url})
    return app.test_client()


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "api.example.com"}


@pytest.mark.parametrize("echo_app", [1], indirect=True)
def test_a_trusted_proxy_names_the_client(echo_app):
    answer = echo_app.get("/whoami", headers={**bearer(), **FORWARDED}).get_json()

    assert answer == {"addr": "203.0.113.9", "url": "https://api.example.com/"}


@pytest.mark.parametrize("echo_app", [0], indirect=True)
def test_forwarded_headers_are_ignored_without_a_trusted_proxy(echo_app):
    answer = echo_app.get("/whoami", headers={**bearer(), **FORWARDED}).get_json()

    assert answer == {"addr": "127.0.0.1", "url": "http://localhost/"}


def test_settings_come_from_the_environment(monkeypatch, redis_server):
    monkeypatch.setenv("MAX_TEXT_CHARS", "7")
    from app import create_app
    app = create_app({"REDIS_URL": redis_server.url})

    assert app.config["MAX_TEXT_CHARS"] == 7
    assert app.config["RATE_LIMIT"] == "6000/minute"  # the documented default
