"""The operator dashboard at ``/dashboard``, and the login that opens it in a browser.

Pages, not API operations: HTML for a person, authenticated by the session cookie of
``app.sessions`` (the login form trades an operator token for it; the token never appears in
a URL). The page reads the JSON routes and WebSocket feeds with that cookie; its script and
style are files of this package, served here: no build step, no CDN, no inline script.
"""
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from app import failed_auth, sessions
from app.auth import authenticate, public, session_principal
from app.errors import APIError

bp = Blueprint("dashboard", __name__)

ASSETS_DIR = Path(__file__).parent / "dashboard_assets"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
REFUSED_TOKEN = {
    "unknown": (401, "That token is not known here."),
    "channel": (403, "That is a channel token: the dashboard needs an operator token."),
    "csrf": (400, "The login form expired or came from another site; try again."),
    "off": (503, "Browser login is off on this server: it has no SECRET_KEY."),
    "logout": (400, "Log out with the dashboard's button: that request came without its form."),
    "locked": (429, "Too many wrong tokens from this address; try again later."),
}


@bp.get("/login")
@public
def login_form():
    """The login form: an operator token in, a session cookie out."""
    if _signed_in():
        return redirect(url_for("dashboard.page"), 303)
    if not sessions.enabled():
        return _refused("off")
    return _page("login.html", 200, error=None)


@bp.post("/login")
@public  # the token is in the form, not in a header
def login():
    """Exchange an operator token (form field ``token``) for a session cookie."""
    if not sessions.enabled():
        return _refused("off")
    try:
        sessions.check_change()
    except APIError:
        return _refused("csrf")
    try:
        failed_auth.refuse_if_locked_out()
    except APIError as locked:
        return _refused("locked", locked.headers)
    principal = authenticate(f"Bearer {request.form.get('token', '')}",
                             current_app.extensions["auth_digests"])
    if principal is None:
        failed_auth.record_failure()
        return _refused("unknown")
    if not principal.is_operator:
        return _refused("channel")
    sessions.begin(principal.id)
    return redirect(url_for("dashboard.page"), 303)


@bp.post("/logout")
@public  # a session already gone still logs out to the form
def logout():
    """End the session (CSRF token in the form), everywhere, and go back to the login form."""
    if sessions.enabled() and sessions.operator_id() is not None:
        try:
            sessions.check_change()
        except APIError:
            return _refused("logout")  # another site's form must not log the operator out
        sessions.end()
    return redirect(url_for("dashboard.login_form"), 303)


@bp.get("/dashboard")
@public  # not signed in: the login form, not a JSON 401
def page():
    """The live operator dashboard."""
    if not _signed_in():
        return redirect(url_for("dashboard.login_form"), 303)
    return _page("dashboard.html", 200, csrf_token=sessions.csrf_token(),
                 flower_url=flower_url(),
                 window_seconds=current_app.config["METRICS_WINDOW_SECONDS"])


@bp.get("/dashboard/assets/<filename>")
@public  # code and style only: the data comes from routes that check the session
def asset(filename: str):
    """The dashboard's script or style sheet."""
    if filename not in ASSETS:
        abort(404)
    return send_from_directory(ASSETS_DIR, filename, mimetype=ASSETS[filename], max_age=0)


def flower_url() -> str:
    """``FLOWER_URL``, else Flower's port on the host name the browser used for the API."""
    if current_app.config["FLOWER_URL"]:
        return current_app.config["FLOWER_URL"]
    host = urlsplit(f"//{request.host}").hostname or "localhost"
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return f"http://{host}:{current_app.config['FLOWER_PORT']}/"


def _signed_in() -> bool:
    return sessions.enabled() and session_principal() is not None


def _refused(reason: str, headers: dict | None = None) -> Response:
    status, message = REFUSED_TOKEN[reason]
    response = _page("login.html", status, error=message)
    response.headers.update(headers or {})
    return response


def _page(template: str, status: int, **context) -> Response:
    context.setdefault("login_enabled", sessions.enabled())
    response = Response(render_template(template, **context), status,
                        content_type="text/html; charset=utf-8")
    response.headers.update({"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                             "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
                             "X-Content-Type-Options": "nosniff"})
    return response
