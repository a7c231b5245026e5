"""The dashboard's login, session cookie and CSRF checks, through Flask's test client (real
Redis), and its WebSocket checks against gunicorn."""
import re
import time
from http.cookies import SimpleCookie

import pytest
import requests
from simple_websocket import Client, ConnectionError

from app.sessions import COOKIE_NAME
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    error_of,
    make_app,
    submission,
    wait_until,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_DATA = re.compile(r'data-csrf-token="([^"]+)"')


def login(client, token: str = OPERATOR_TOKEN):
    """Sign in through the form, as a browser does: its page first, for the CSRF token."""
    form = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"token": token,
                                       "csrf_token": CSRF_FIELD.search(form).group(1)})


def page_csrf_token(client) -> str:
    return CSRF_DATA.search(client.get("/dashboard").get_data(as_text=True)).group(1)


def session_cookie(response) -> dict:
    """The attributes of the session cookie a response sets, names in lower case."""
    [header] = [value for value in response.headers.getlist("Set-Cookie")
                if value.startswith(COOKIE_NAME + "=")]
    parts = [part.strip() for part in header.split(";")]
    attributes = {name.lower(): value for name, _, value in (p.partition("=") for p in parts[1:])}
    return {"value": parts[0].partition("=")[2], **attributes}


def test_the_login_form_carries_a_csrf_token_and_no_script(client):
    response = client.get("/login")

    assert response.status_code == 200 and response.mimetype == "text/html"
    assert CSRF_FIELD.search(response.get_data(as_text=True))
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_an_operator_token_opens_a_session_cookie_with_safe_flags(client):
    response = login(client)
    cookie = session_cookie(response)

    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    assert "httponly" in cookie and cookie["samesite"] == "Strict"
    assert "secure" not in cookie  # SESSION_COOKIE_SECURE is off by default (plain HTTP)
    assert cookie["path"] == "/" and "expires" in cookie
    assert OPERATOR_TOKEN not in cookie["value"]
    page = client.get("/dashboard")
    assert page.status_code == 200 and 'id="channels"' in page.get_data(as_text=True)


def test_the_cookie_is_secure_when_configured(redis_server, redis_client):
    client = make_app(redis_server.url, SESSION_COOKIE_SECURE=True).test_client()

    assert "secure" in session_cookie(login(client))


@pytest.mark.parametrize("token, status, says", [
    (CHANNEL_TOKEN, 403, "channel token"), ("not-a-token", 401, "not known")])
def test_login_refuses_channel_and_unknown_tokens_in_words(client, token, status, says):
    response = login(client, token)

    assert response.status_code == status and response.mimetype == "text/html"
    assert says in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 303  # still signed out
    error_of(client.get("/channels"), "UNAUTHORIZED")


def test_login_needs_the_forms_csrf_token(client):
    client.get("/login")
    response = client.post("/login", data={"token": OPERATOR_TOKEN})

    assert response.status_code == 400 and "try again" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 303


def test_signed_out_the_dashboard_sends_to_the_form_and_routes_answer_401(client):
    response = client.get("/dashboard")

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    error_of(client.get("/workers"), "UNAUTHORIZED")


def test_the_session_reads_the_routes_the_page_uses(client):
    login(client)

    for path in ("/channels", "/workers", "/health", "/metrics", "/tasks/failed"):
        assert client.get(path).status_code == 200, path  # /tasks/failed: operators only


def test_a_cookie_change_needs_the_csrf_token_and_a_bearer_change_does_not(client,
                                                                             redis_client):
    login(client)

    error_of(client.post("/channels/email/pause"), "CSRF_REJECTED")
    error_of(client.post("/channels/email/pause", headers={"X-CSRFToken": "forged"}),
             "CSRF_REJECTED")
    assert redis_client.smembers("sp:paused") == set()

    answer = client.post("/channels/email/pause", headers={"X-CSRFToken": page_csrf_token(client)})
    assert answer.status_code == 200 and answer.get_json()["status"] == "paused"
    other = client.application.test_client()  # no cookie: a bearer token needs no CSRF token
    assert other.post("/channels/email/resume", headers=bearer(OPERATOR_TOKEN)).status_code == 200


def test_a_cookie_never_rescues_a_wrong_bearer_token(client):
    login(client)

    error_of(client.get("/channels", headers=bearer("wrong")), "UNAUTHORIZED")


def test_logout_ends_the_session_for_every_copy_of_the_cookie(client):
    login(client)
    page_csrf_token(client)  # the page's visit stores its CSRF token in the session
    copied = client.get_cookie(COOKIE_NAME).value

    error_of(client.post("/channels/chat/pause"), "CSRF_REJECTED")
    refused = client.post("/logout")  # another site's form: no CSRF token
    assert refused.status_code == 400 and client.get("/channels").status_code == 200

    out = client.post("/logout", data={"csrf_token": page_csrf_token(client)})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    thief = client.application.test_client()
    thief.set_cookie(COOKIE_NAME, copied)
    error_of(thief.get("/channels"), "UNAUTHORIZED")
    assert thief.get("/dashboard").status_code == 303


def test_a_session_expires(redis_server, redis_client):
    client = make_app(redis_server.url, SESSION_LIFETIME_SECONDS=1).test_client()
    login(client)
    assert client.get("/channels").status_code == 200

    time.sleep(1.5)
    error_of(client.get("/channels"), "UNAUTHORIZED")


def test_every_process_with_the_key_accepts_the_cookie_and_no_other(redis_server, redis_client):
    first = make_app(redis_server.url).test_client()
    login(first)
    cookie = first.get_cookie(COOKIE_NAME).value

    def status_in(app) -> int:
        client = app.test_client()
        client.set_cookie(COOKIE_NAME, cookie)
        return client.get("/channels").status_code

    assert status_in(make_app(redis_server.url)) == 200  # another process, same SECRET_KEY
    assert status_in(make_app(redis_server.url, SECRET_KEY="another key")) == 401
    # The token it was made with was removed: its sessions end with it.
    assert status_in(make_app(redis_server.url, OPERATOR_TOKENS=("new-operator",))) == 401


def test_without_a_secret_key_browser_login_is_off(redis_server, redis_client):
    client = make_app(redis_server.url, SECRET_KEY="").test_client()

    page = client.get("/login")
    assert page.status_code == 503 and "SECRET_KEY" in page.get_data(as_text=True)
    assert client.post("/login", data={"token": OPERATOR_TOKEN}).status_code == 503
    assert client.get("/channels", headers=bearer(OPERATOR_TOKEN)).status_code == 200


def test_the_page_links_flower_and_loads_only_its_own_assets(client):
    login(client)
    html = client.get("/dashboard").get_data(as_text=True)

    assert 'href="http://localhost:5555/"' in html  # FLOWER_PORT on the host the browser used
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        if url in ("http://localhost:5555/", "data:,"):  # Flower; an empty icon, no request
            continue
        assert url.startswith("/") and not url.startswith("//"), url
    script = client.get("/dashboard/assets/dashboard.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert "innerHTML" not in script.get_data(as_text=True)  # data goes in as text only
    assert client.get("/dashboard/assets/other.js").status_code == 404


def test_flower_url_setting_wins(redis_server, redis_client):
    client = make_app(redis_server.url, FLOWER_URL="https://flower.example/ops/").test_client()
    login(client)

    assert 'href="https://flower.example/ops/"' in client.get("/dashboard").get_data(
        as_text=True)


# ---- WebSockets under gunicorn: the cookie, and where the page came from ------------------

def browser_session(api_server) -> requests.Session:
    session = requests.Session()
    form = session.get(api_server.url + "/login").text
    signed_in = session.post(api_server.url + "/login", allow_redirects=False, data={
        "token": OPERATOR_TOKEN, "csrf_token": CSRF_FIELD.search(form).group(1)})
    assert signed_in.status_code == 303
    return session


def cookie_header(session: requests.Session) -> str:
    cookie = SimpleCookie()
    cookie[COOKIE_NAME] = session.cookies[COOKIE_NAME]
    return cookie.output(header="", attrs=[]).strip()


def test_a_session_socket_from_the_pages_origin_gets_the_feed(module_api_server, worker):
    api = module_api_server.url
    session = browser_session(module_api_server)
    # simple-websocket names the host without its port (Host: 127.0.0.1); a browser's Origin
    # is the page's scheme and Host, so here that is http://127.0.0.1.
    socket = Client.connect(api.replace("http", "ws") + "/tasks/updates", headers={
        "Cookie": cookie_header(session), "Origin": "http://127.0.0.1"})
    try:
        task_id = requests.post(api + "/task", json=submission("Terrible, awful."),
                                headers=bearer(CHANNEL_TOKEN), timeout=10).json()["task_id"]
        seen = []

        def completed() -> bool:
            message = socket.receive(timeout=1)
            if message:
                seen.append(message)
            return any(task_id in m and '"completed"' in m for m in seen)

        wait_until(completed, 30, interval=0, message="the task's completion on the feed")
    finally:
        socket.close()


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", None])
def test_a_session_socket_from_another_origin_is_refused(module_api_server, origin):
    api = module_api_server.url
    session = browser_session(module_api_server)
    headers = {"Cookie": cookie_header(session)}
    if origin:
        headers["Origin"] = origin

    with pytest.raises(ConnectionError) as refused:
        Client.connect(api.replace("http", "ws") + "/workers/updates",
                       headers=headers)
    assert refused.value.status_code == 403
    # A bearer token is no ambient credential: any origin may use one.
    socket = Client.connect(api.replace("http", "ws") + "/workers/updates",
                            headers={**bearer(OPERATOR_TOKEN), "Origin": "http://evil.example"})
    socket.close()


def test_the_secret_key_is_shared_by_the_api_processes(api_server):
    # Two gunicorn processes: a login on one must hold on whichever answers next.
    session = browser_session(api_server)
    statuses = {session.get(api_server.url + "/channels").status_code for _ in range(20)}

    assert statuses == {200}
