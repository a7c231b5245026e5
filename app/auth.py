"""Authentication for every route but the few marked ``public``: bearer tokens, or the
dashboard's session cookie (``app.sessions``) as an operator when no token is presented.

Only SHA-256 digests of the tokens are kept, and a presented token is compared against
every known digest in constant time, so neither timing nor a memory dump reveals a token.
"""
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from werkzeug.exceptions import MethodNotAllowed

from app import failed_auth, sessions
from app.errors import APIError

CHANNEL = "channel"
OPERATOR = "operator"
DIGEST_PREFIX = "sha256:"
PRINCIPAL_ID_HEX = 16  # the digest prefix that names a token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    role: str
    id: str  # a short digest prefix: names the token in the registry without revealing it

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR


def digest(entry: str) -> bytes:
    """The SHA-256 digest of a configured token, or the digest it already is."""
    if entry.startswith(DIGEST_PREFIX):
        configured = bytes.fromhex(entry[len(DIGEST_PREFIX):])
        # A truncated digest would never match: refuse it at startup rather than lock a user out.
        if len(configured) != hashlib.sha256().digest_size:
            raise ValueError(f"a {DIGEST_PREFIX} token entry needs 64 hex digits")
        return configured
    return hashlib.sha256(entry.encode()).digest()


def known_digests(channel_tokens, operator_tokens) -> tuple[tuple[bytes, str], ...]:
    """Every accepted token digest with its role."""
    return tuple([(digest(t), CHANNEL) for t in channel_tokens]
                 + [(digest(t), OPERATOR) for t in operator_tokens])


def authenticate(header: str, known: tuple[tuple[bytes, str], ...]) -> Principal | None:
    """The principal behind an ``Authorization`` header, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    presented = hashlib.sha256(token.strip().encode()).digest()
    role = None
    for candidate, candidate_role in known:  # no early exit: constant time over the list
        if hmac.compare_digest(candidate, presented):
            role = candidate_role
    return Principal(role, presented.hex()[:PRINCIPAL_ID_HEX]) if role else None


def identify(credentials: str) -> Principal | None:
    """The principal behind bearer credentials when presented, else the session's operator."""
    if credentials:  # a wrong token is refused, never rescued by a cookie
        return authenticate(credentials, current_app.extensions["auth_digests"])
    return session_principal()


def session_principal() -> Principal | None:
    """The operator of the request's dashboard session; refuses a cross-site request."""
    operator_id = sessions.operator_id()
    # A session outlives no token: one made with a token since removed is refused.
    if operator_id is None or operator_id not in current_app.extensions["operator_ids"]:
        return None
    if request.headers.get("Upgrade", "").lower() == "websocket":
        sessions.check_origin()  # browsers send a cookie with any site's WebSocket
    elif request.method not in SAFE_METHODS:
        sessions.check_change()
    g.session_auth = True
    return Principal(OPERATOR, operator_id)


def public(view: Callable) -> Callable:
    """Mark a view as reachable without a token."""
    view.auth_public = True
    return view


def require_operator() -> None:
    """Refuse a channel token on an operator route."""
    if not g.principal.is_operator:
        raise APIError("FORBIDDEN", "This route needs an operator token.")


def _check_token() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "auth_public", False):
        return
    # A wrong method is 405 with or without a token (no token makes it right, and the route
    # table is public in /openapi.json); a 401 there would send clients after credentials.
    if isinstance(request.routing_exception, MethodNotAllowed):
        return
    credentials = request.headers.get("Authorization", "")
    if credentials:
        failed_auth.refuse_if_locked_out()
    principal = identify(credentials)
    if principal is None:
        if credentials:
            failed_auth.record_failure()
        raise APIError("UNAUTHORIZED", "A valid bearer token is required.",
                       headers={"WWW-Authenticate": 'Bearer realm="sentiment-platform"'})
    g.principal = principal


def init_app(app: Flask) -> None:
    """Load the token digests and check a token (or session) before every request."""
    app.extensions["auth_digests"] = known_digests(app.config["API_TOKENS"],
                                                   app.config["OPERATOR_TOKENS"])
    app.extensions["operator_ids"] = frozenset(
        known.hex()[:PRINCIPAL_ID_HEX] for known, role in app.extensions["auth_digests"]
        if role == OPERATOR)
    sessions.init_app(app)
    failed_auth.init_app(app)
    app.before_request(_check_token)
