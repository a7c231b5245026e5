"""The OpenAPI 3 document, generated from the app: ``GET /openapi.json``.

Paths and methods come from ``app.url_map``, summaries from the views' docstrings, request
schemas from the marshmallow schemas the views load with, answers from
``app.openapi_operations``, error codes from ``app.errors.CODES``. WebSocket routes are no
HTTP operations: they are described under ``x-websockets``. The document is public: it
holds no data and no secret, and clients (code generators, the ``/docs`` page) need it
before they hold a token.
"""
import logging
import re
from collections import defaultdict
from http import HTTPStatus
from importlib.metadata import version

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import validate
from werkzeug.routing import Rule

from app.auth import public
from app.errors import CODES, TASK_ERROR_CODES
from app.openapi_operations import AUTHENTICATED_ERRORS, OPERATIONS, SOCKETS, Operation
from app.openapi_schemas import COMPONENTS
from app.schemas import TaskDataSchema, printable
from app.tasks import IDEMPOTENCY_KEY

logger = logging.getLogger(__name__)

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.0.3"  # the bundled Swagger UI (4.x) renders 3.0, not 3.1
SECURITY_SCHEME = "bearerAuth"
UNDOCUMENTED_ENDPOINTS = frozenset({"static"})
# The dashboard's pages are for a person with a browser, authenticated by a session cookie,
# not operations for API clients: a generated client must not log in through an HTML form,
# and the document's one security scheme is the bearer token. Listed under x-browser-pages.
BROWSER_BLUEPRINTS = frozenset({"dashboard"})
_HIDDEN_METHODS = frozenset({"HEAD", "OPTIONS"})  # answered by Flask itself for every route
_DOCUMENTED_METHODS = frozenset({"get", "post", "put", "patch", "delete"})
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# schemas.printable as JSON Schema patterns (ECMA-262): no C0 control but tab, newline and
# carriage return, no DEL or C1 control; a text also needs one character that is not white
# space. Lone surrogates, refused too, are left out: regex engines of other languages (Rust's,
# which schemathesis validates with) reject them in a pattern. tests/test_openapi.py checks
# these against schemas.UNPRINTABLE character by character.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
PRINTABLE_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
TEXT_PATTERN = (f"^[^{CONTROL_CHARACTERS}]*[^\\s{CONTROL_CHARACTERS}]"
                f"[^{CONTROL_CHARACTERS}]*$")
# Path parameters, by path, that the view validates beyond "a string".
PATH_PARAMETERS = {
    "/customers/{customer_id}": {  # app.erasure, with app.schemas.customer_id_field
        "customer_id": {"type": "string", "minLength": 1, "maxLength": 128,
                        "pattern": PRINTABLE_PATTERN}},
}

_ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}
NULL_ONLY = {**_ANY_OBJECT_OR_NULL, "enum": [None]}

RESPONSE_HEADERS = {
    "X-RateLimit-Limit": ("integer", "Requests this token may make in the current window."),
    "X-RateLimit-Remaining": ("integer", "Requests left in the current window."),
    "X-RateLimit-Reset": ("integer", "When the window resets, in seconds since the epoch."),
    "Retry-After": ("integer", "Seconds to wait before retrying."),
    "WWW-Authenticate": ("string", "`Bearer realm=\"sentiment-platform\"`."),
    "Location": ("string", "The URL of the created resource."),
    "Idempotent-Replayed": ("string", "`true`: the answer is the first task's, not a new one."),
    "ETag": ("string", "The answer's version, for `If-None-Match`."),
    "Cache-Control": ("string", "How long a client may keep the answer."),
    "X-Request-ID": ("string", "This request's id: the client's `X-Request-ID` when it is 1 "
                               "to 128 of `A-Za-z0-9-_.:/+=@`, else a new one."),
}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
EVERY_ANSWER_HEADERS = ("X-Request-ID",)
RETRY_AFTER_CODES = frozenset({"RATE_LIMITED", "QUEUE_FULL", "REDIS_UNAVAILABLE"})

DESCRIPTION = """\
Sentiment analysis of customer-service messages: channels submit messages, Celery workers
analyse them with VADER, channels read the results back.

**Authentication.** Every operation needs `Authorization: Bearer <token>` except those marked
public. Channel tokens read only the tasks they submitted; operator tokens read every task and
may use the operator routes (a channel token gets `403 FORBIDDEN` there).

**Rate limit.** Each token may make `RATE_LIMIT` requests across all routes; answers carry
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`, and a request over the
limit gets `429 RATE_LIMITED` with `Retry-After`. So does, until its window ends, a request
with a token from a client address that presented `AUTH_FAILURE_LIMIT` wrong tokens.

**Browser sessions.** The operator dashboard (`/dashboard`, listed under `x-browser-pages`,
not as operations) trades an operator token for a session cookie; the routes it reads accept
that cookie as an operator token, and a change made with it needs its CSRF token in
`X-CSRFToken` (else `403 CSRF_REJECTED`). API clients use bearer tokens.

**Request ids.** Every answer, errors included, carries `X-Request-ID`: the request's own
`X-Request-ID` header when it is 1 to 128 letters, digits or `-_.:/+=@`, else a new id. A
submitted task keeps it (`request_id` in `GET /task/{task_id}` and the update feed), and the
API's and workers' log lines about the request and its tasks carry it.

**Errors.** Every error answers `{"error": {"code", "message", "details"}}` (the
`ErrorEnvelope` schema). Each operation lists the codes it may answer with; besides those, any
unknown path answers `404 NOT_FOUND` and a known path with another method
`405 METHOD_NOT_ALLOWED` (with `Allow`).
"""


def build_document(app: Flask) -> dict:
    """The OpenAPI document of every HTTP route of ``app``."""
    spec = APISpec(
        title="Sentiment platform API", version=version("sentiment-platform"),
        openapi_version=OPENAPI_VERSION, plugins=[_Plugin()],
        info={"description": DESCRIPTION + _codes_table() + _websockets_text(app)},
        security=[{SECURITY_SCHEME: []}], **{"x-websockets": websocket_routes(app),
                                             "x-browser-pages": browser_pages(app)})
    spec.components.security_scheme(SECURITY_SCHEME, {"type": "http", "scheme": "bearer"})
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    for name, (kind, text) in RESPONSE_HEADERS.items():
        spec.components.header(name, {"description": text, "schema": {"type": kind}})
    spec.components.parameter("If-None-Match", "header", {
        "description": "The `ETag` of a copy the client holds: 304 when it is still current.",
        "schema": {"type": "string"}})
    spec.components.parameter("Idempotency-Key", "header", {
        "description": "The same key from the same token within `IDEMPOTENCY_TTL_SECONDS` "
                       "returns the first task (200, `Idempotent-Replayed: true`).",
        "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"}})
    paths = defaultdict(dict)
    for rule in http_rules(app):
        operation = OPERATIONS.get(rule.endpoint)
        if operation is None:  # tests/test_openapi.py fails on it; the document still serves
            logger.warning("route %s (%s) is not in app.openapi_operations", rule.rule,
                           rule.endpoint)
            continue
        for method in sorted(rule.methods - _HIDDEN_METHODS):
            paths[openapi_path(rule)][method.lower()] = _operation(app, rule, operation)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations, parameters=[
            {"name": name, "in": "path", "required": True,
             "schema": PATH_PARAMETERS.get(path, {}).get(name, {"type": "string"})}
            for name in _ARGUMENT.findall(path.replace("{", "<").replace("}", ">"))])
    document = spec.to_dict()
    _drop_null_from_queries(document)
    return document


def _drop_null_from_queries(document: dict) -> None:
    """A query parameter is absent or a string, never null: apispec copies load_default=None."""
    for item in document["paths"].values():
        for method in _DOCUMENTED_METHODS & set(item):
            for parameter in item[method].get("parameters", ()):
                schema = parameter.get("schema", {}) if parameter.get("in") == "query" else {}
                if schema.pop("nullable", False):
                    schema.pop("default", None)
                    if "enum" in schema:
                        schema["enum"] = [value for value in schema["enum"] if value is not None]


def http_rules(app: Flask) -> list[Rule]:
    """The rules that are HTTP operations: all but static files and WebSockets."""
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint not in UNDOCUMENTED_ENDPOINTS and not _is_browser_page(rule)
            and not getattr(rule, "websocket", False)]


def browser_pages(app: Flask) -> list[dict]:
    """The dashboard's HTML routes, named so the document says they exist and why apart."""
    return [{"path": openapi_path(rule), "methods": sorted(rule.methods - _HIDDEN_METHODS),
             "summary": _docstring(app.view_functions[rule.endpoint])[0]}
            for rule in app.url_map.iter_rules() if _is_browser_page(rule)]


def _is_browser_page(rule: Rule) -> bool:
    return rule.endpoint.partition(".")[0] in BROWSER_BLUEPRINTS


def websocket_routes(app: Flask) -> list[dict]:
    """The WebSocket routes, which OpenAPI 3.0 cannot describe as operations."""
    routes = []
    for rule in app.url_map.iter_rules():
        if getattr(rule, "websocket", False):
            summary, description = _docstring(app.view_functions[rule.endpoint])
            socket = SOCKETS[rule.endpoint]
            routes.append({"path": openapi_path(rule), "summary": summary,
                           "description": description, "auth": socket.auth,
                           "query": socket.query, "handshake-errors": [
                               {"code": code, "status": CODES[code].status}
                               for code in socket.errors]})
    return routes


def openapi_path(rule: Rule) -> str:
    """``/task/<task_id>`` as ``/task/{task_id}``."""
    return _ARGUMENT.sub(r"{\1}", rule.rule)


def _operation(app: Flask, rule: Rule, operation: Operation) -> dict:
    view = app.view_functions[rule.endpoint]
    is_public = getattr(view, "auth_public", False)
    summary, description = _docstring(view)
    if operation.operator:
        description = f"{description}\n\nNeeds an operator token.".strip()
    answer = {"operationId": rule.endpoint, "tags": [rule.endpoint.partition(".")[0]],
              "summary": summary, "description": description,
              "responses": _responses(operation, is_public)}
    if is_public:
        answer["security"] = []
    parameters = list(operation.request_headers)  # names of component parameters
    if operation.query is not None:
        parameters.append({"in": "query", "schema": operation.query(app)})
    if parameters:
        answer["parameters"] = parameters
    if operation.body is not None:
        answer["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.body(app)}}}
    return answer


def _responses(operation: Operation, is_public: bool) -> dict:
    common = EVERY_ANSWER_HEADERS + (() if is_public else RATE_LIMIT_HEADERS)
    responses = {}
    for status, content in operation.responses.items():
        if content is not None and not isinstance(content, dict):
            content = {"application/json": content}
        names = common + operation.headers.get(status, ())
        responses[str(status)] = {"description": HTTPStatus(status).phrase}
        if content is not None:
            responses[str(status)]["content"] = {
                media: {"schema": schema} for media, schema in content.items()}
        if names:
            responses[str(status)]["headers"] = _header_refs(names)
    # Any route may fail unexpectedly; its answer is the envelope all the same.
    errors = operation.errors + (() if is_public else AUTHENTICATED_ERRORS) + ("INTERNAL_ERROR",)
    for status, codes in _by_status(errors).items():
        names = common + (("Retry-After",) if RETRY_AFTER_CODES & set(codes) else ())
        if "UNAUTHORIZED" in codes:
            names = EVERY_ANSWER_HEADERS + ("WWW-Authenticate",)
        responses[str(status)] = {
            "description": " ".join(f"`{code}`: {CODES[code].meaning}" for code in codes),
            "content": {"application/json": {"schema": _envelope_of(codes)}},
            "headers": _header_refs(names), "x-error-codes": list(codes)}
    return dict(sorted(responses.items()))


def _by_status(codes) -> dict[int, list[str]]:
    grouped = defaultdict(list)
    for code in dict.fromkeys(codes):  # once each, in the table's order
        grouped[CODES[code].status].append(code)
    return grouped


def _envelope_of(codes: list[str]) -> dict:
    """The envelope, its ``code`` narrowed to what this status of this route answers."""
    return {"allOf": [{"$ref": "#/components/schemas/ErrorEnvelope"}, {
        "type": "object", "properties": {"error": {
            "type": "object", "properties": {"code": {"type": "string", "enum": codes}}}}}]}


def _header_refs(names) -> dict:
    return {name: name for name in names}  # apispec turns component names into $refs


def _docstring(view) -> tuple[str, str]:
    """The view's first docstring line as summary, the rest (Markdown) as description."""
    lines = (view.__doc__ or "").replace("``", "`").strip().splitlines()
    rest = "\n".join(line.strip() for line in lines[1:]).strip()
    return (lines[0] if lines else ""), rest


def _codes_table() -> str:
    rows = [f"| `{error.code}` | {error.status} | {error.meaning} |" for error in CODES.values()]
    rows += [f"| `{code}` | (task `error`) | {meaning} |"
             for code, meaning in TASK_ERROR_CODES.items()]
    return "\n| code | HTTP | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _websockets_text(app: Flask) -> str:
    lines = [f"- `{route['path']}`: {route['summary']}" for route in websocket_routes(app)]
    return ("\n**WebSockets** (operator token, as `Authorization: Bearer` or the subprotocol "
            "pair `bearer, <token>`; listed under `x-websockets`, not as operations):\n\n"
            + "\n".join(lines) + "\n")


def _constraints(converter, field, ret, **kwargs) -> dict:
    """What the schemas check in code, so generated clients and fuzzers know it too."""
    limits = {}
    if "anyOf" in ret:  # apispec's nullable Nested: its null branch would admit any object
        limits["anyOf"] = [NULL_ONLY if branch == _ANY_OBJECT_OR_NULL else branch
                           for branch in ret["anyOf"]]
    validators = getattr(field, "validators", ())
    if printable in validators:
        limits["pattern"] = PRINTABLE_PATTERN
    for bound in validators:  # apispec writes Range's bounds but not their exclusiveness
        if isinstance(bound, validate.Range):
            if bound.min is not None and not bound.min_inclusive:
                limits["exclusiveMinimum"] = True
            if bound.max is not None and not bound.max_inclusive:
                limits["exclusiveMaximum"] = True
    schema = getattr(field, "parent", None)
    if isinstance(schema, TaskDataSchema):  # its limits are the app's config, per instance
        if field.name == "text":
            limits.update(minLength=1, maxLength=schema.max_text_chars, pattern=TEXT_PATTERN)
        elif field.name == "timeout":
            limits["maximum"] = schema.max_timeout_seconds
    return limits


class _Plugin(MarshmallowPlugin):
    """apispec's marshmallow plugin, with the limits the schemas check in code."""

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.converter.add_attribute_function(_constraints)


def document() -> dict:
    """This app's document, built once: routes do not change after start-up."""
    built = current_app.extensions.get("openapi_document")
    if built is None:
        built = current_app.extensions["openapi_document"] = build_document(current_app)
    return built


@bp.get("/openapi.json")
@public
def openapi_document():
    """This API's OpenAPI 3 document (public: it describes the API, it holds no data)."""
    return jsonify(document())
