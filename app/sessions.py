"""Browser sessions for the dashboard: an operator token exchanged for a signed cookie.

The cookie is Flask's session, signed with ``SECRET_KEY`` (itsdangerous), so every API
process that shares the key accepts it. It is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (the browser sends it on no request another site starts) and ``Secure``
with ``SESSION_COOKIE_SECURE``. It holds the operator token's public id (a digest prefix,
never the token), a random session id and an absolute expiry. Logout records the session id
in Redis until the cookie would have expired: a copied cookie dies with the logout too.

A cookie-authenticated change (POST, PUT, PATCH, DELETE) must carry its session's CSRF token
(Flask-WTF) in ``X-CSRFToken`` or the form field ``csrf_token``, and a cookie-authenticated
WebSocket handshake must come from this origin. Bearer-token requests need neither: no
browser adds an ``Authorization`` header to another site's request by itself.
"""
import secrets
import time

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from app.errors import APIError
from tasks import keys

COOKIE_NAME = "sp_session"
OPERATOR_ID, SESSION_ID, EXPIRES = "operator", "sid", "expires"

csrf = CSRFProtect()


def enabled() -> bool:
    """Browser login needs a ``SECRET_KEY`` shared by every API process."""
    return bool(current_app.secret_key)


def begin(operator_id: str) -> None:
    """Log in: a fresh session, so nothing set before the login (a CSRF token) carries over."""
    session.clear()
    session.permanent = True  # an Expires on the cookie, and Flask checks the signature's age
    session[OPERATOR_ID] = operator_id
    session[SESSION_ID] = secrets.token_urlsafe(16)
    session[EXPIRES] = int(time.time()) + current_app.config["SESSION_LIFETIME_SECONDS"]


def operator_id() -> str | None:
    """The operator id of this request's live session, or None."""
    if not enabled() or OPERATOR_ID not in session:
        return None
    if session.get(EXPIRES, 0) <= time.time():  # absolute: using the session never extends it
        return None
    if current_app.extensions["redis"].exists(keys.ended_session(session[SESSION_ID])):
        return None
    return session[OPERATOR_ID]


def end() -> None:
    """Log out: this session id is refused by every process until it would have expired."""
    session_id, remaining = session.get(SESSION_ID), session.get(EXPIRES, 0) - time.time()
    if session_id and remaining > 0:
        current_app.extensions["redis"].set(keys.ended_session(session_id), 1,
                                            ex=int(remaining) + 1)
    session.clear()


def csrf_token() -> str:
    """This session's CSRF token, for the page to send back in ``X-CSRFToken``."""
    return generate_csrf()


def check_change() -> None:
    """Refuse a cookie-authenticated change without its session's CSRF token."""
    try:
        csrf.protect()
    except CSRFError as exc:
        raise APIError("CSRF_REJECTED", f"CSRF check failed: {exc.description}") from None


def check_origin() -> None:
    """Refuse a cookie-authenticated WebSocket opened by another site's page."""
    origin = request.headers.get("Origin", "")
    expected = f"{request.scheme}://{request.host}"
    if origin.lower() != expected.lower():
        raise APIError("CSRF_REJECTED", "A session's WebSocket must come from this site.",
                       {"origin": origin or None, "expected": expected})


class CookieFirstSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for a request with no cookie.

    Flask opens the session of every request; API clients send none, and the signer it
    builds first was 2% of the CPU of a ``POST /task``.
    """

    def open_session(self, app, request):
        # No Cookie header at all is the usual case, found without parsing one.
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or self.get_cookie_name(app) not in request.cookies):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Cookie flags, lifetime, and CSRF tokens checked only where ``app.auth`` asks."""
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        # Strict, not Lax: an operator console needs no visit from a link on another site
        # to arrive logged in, and Strict keeps even top-level navigations from carrying it.
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=app.config["SESSION_LIFETIME_SECONDS"],
        SESSION_REFRESH_EACH_REQUEST=False,  # the expiry is absolute, see begin()
        WTF_CSRF_CHECK_DEFAULT=False,  # bearer-token requests are exempt: auth decides
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    app.session_interface = CookieFirstSessions()
    csrf.init_app(app)
