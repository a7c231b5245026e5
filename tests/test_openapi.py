"""The OpenAPI document at /openapi.json and the docs page at /docs, as a client sees them."""
import re
import sys
from html.parser import HTMLParser

import pytest
from openapi_spec_validator import validate

from app.errors import CODES
from app.openapi import PRINTABLE_PATTERN, TEXT_PATTERN
from app.schemas import UNPRINTABLE
from app.tasks import IDEMPOTENCY_KEY
from conftest import OPERATOR_TOKEN, bearer, error_of, make_app

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
RATE_LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
PUBLIC = {("get", "/health/live"), ("get", "/openapi.json"), ("get", "/docs"),
          ("get", "/docs/{filename}")}
# A route that answers no operation: its code is in the envelope's enum and the description.
ROUTELESS_CODES = {"METHOD_NOT_ALLOWED"}


def document_of(client) -> dict:
    response = client.get("/openapi.json")  # no token: the document is public
    assert response.status_code == 200
    return response.get_json()


def operations(document: dict):
    """Every (method, path, operation) of the document."""
    for path, item in document["paths"].items():
        for method in HTTP_METHODS & set(item):
            yield method, path, item[method]


def undocumented_routes(app, document: dict) -> list[tuple[str, str]]:
    """The HTTP routes of ``app.url_map`` the document lacks, as (method, path)."""
    documented = {(method, path) for method, path, _ in operations(document)}
    browser = {page["path"] for page in document["x-browser-pages"]}
    routes = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.websocket  # described elsewhere
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    return sorted(route for route in routes - documented if route[1] not in browser)


def test_every_http_route_is_in_the_document(app, client):
    assert undocumented_routes(app, document_of(client)) == []


def test_a_route_missing_from_the_document_is_reported(redis_server, redis_client):
    app = make_app(redis_server.url)
    app.add_url_rule("/added-without-docs", "added", lambda: {}, methods=["POST"])

    assert undocumented_routes(app, document_of(app.test_client())) == [
        ("post", "/added-without-docs")]


def test_the_dashboard_pages_are_listed_apart_as_html(app, client):
    # HTML for a browser with a session cookie, not operations for bearer-token clients.
    document = document_of(client)
    pages = {(tuple(page["methods"]), page["path"]) for page in document["x-browser-pages"]}

    assert pages == {(("GET",), "/login"), (("POST",), "/login"), (("POST",), "/logout"),
                     (("GET",), "/dashboard"), (("GET",), "/dashboard/assets/{filename}")}
    assert not {path for _, path in pages} & set(document["paths"])
    assert client.get("/login").mimetype == "text/html"
    assert "x-browser-pages" in document["info"]["description"]


def test_websockets_are_described_not_operations(app, client):
    document = document_of(client)
    sockets = {re.sub(r"<(\w+)>", r"{\1}", rule.rule)
               for rule in app.url_map.iter_rules() if rule.websocket}

    assert sockets == {"/tasks/updates", "/worker/{worker_id}", "/workers/updates"}
    assert {route["path"] for route in document["x-websockets"]} == sockets
    assert not sockets & set(document["paths"])
    for socket in sockets:
        assert f"`{socket}`" in document["info"]["description"]


def test_the_document_is_valid_openapi_3(client):
    document = document_of(client)

    validate(document)
    assert document["openapi"].startswith("3.0")


def test_every_error_code_is_documented_with_its_status(client):
    document = document_of(client)
    envelope = document["components"]["schemas"]["Error"]["properties"]["code"]
    answered = set()
    for _, _, operation in operations(document):
        for status, response in operation["responses"].items():
            for code in response.get("x-error-codes", ()):
                assert CODES[code].status == int(status), (operation["operationId"], code)
                answered.add(code)
    for route in document["x-websockets"]:
        answered |= {error["code"] for error in route["handshake-errors"]}

    assert envelope["enum"] == list(CODES)
    assert answered | ROUTELESS_CODES == set(CODES)
    for code in CODES:
        assert f"`{code}`" in document["info"]["description"]


@pytest.mark.parametrize("url, path, code", [
    ("/task/task_unknown", "/task/{task_id}", "TASK_NOT_FOUND"),
    ("/workers/77", "/workers/{worker_id}", "WORKER_NOT_FOUND"),
    ("/metrics?window=3", "/metrics", "INVALID_INPUT"),
])
def test_an_error_answer_is_one_its_operation_lists(client, url, path, code):
    response = client.get(url, headers=bearer(OPERATOR_TOKEN))
    listed = document_of(client)["paths"][path]["get"]["responses"][str(response.status_code)]

    error_of(response, code)
    assert code in listed["x-error-codes"]


def test_bearer_auth_and_the_public_routes(client):
    document = document_of(client)

    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"}}
    assert document["security"] == [{"bearerAuth": []}]
    public = {(method, path) for method, path, operation in operations(document)
              if operation.get("security") == []}
    assert public == PUBLIC
    for method, path, _ in operations(document):
        url = path.replace("{filename}", "swagger-ui.css").replace("{task_id}", "t").replace(
            "{worker_id}", "1")
        status = client.open(url, method=method.upper()).status_code
        assert (status == 401) == ((method, path) not in PUBLIC), (method, path, status)


def test_idempotency_key_and_rate_limit_headers(client):
    document = document_of(client)
    submit = document["paths"]["/task"]["post"]
    key = document["components"]["parameters"]["Idempotency-Key"]

    assert {"$ref": "#/components/parameters/Idempotency-Key"} in submit["parameters"]
    assert (key["in"], key["schema"]["pattern"]) == ("header", f"^{IDEMPOTENCY_KEY.pattern}$")
    assert "Location" in submit["responses"]["202"]["headers"]
    assert "Idempotent-Replayed" in submit["responses"]["200"]["headers"]
    assert "Retry-After" in submit["responses"]["429"]["headers"]
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = set(response.get("headers", {}))
            if (method, path) in PUBLIC or status == "401":
                assert not headers & RATE_LIMIT_HEADERS, (method, path, status)
            else:
                assert RATE_LIMIT_HEADERS <= headers, (method, path, status)
    answer = client.get("/channels", headers=bearer())
    assert RATE_LIMIT_HEADERS <= set(answer.headers.keys())


def test_request_limits_follow_the_app_config(redis_server, redis_client):
    app = make_app(redis_server.url, MAX_TEXT_CHARS=50, MAX_TASK_TIMEOUT_SECONDS=60)
    data = document_of(app.test_client())["components"]["schemas"]["TaskData"]["properties"]

    assert (data["text"]["minLength"], data["text"]["maxLength"]) == (1, 50)
    assert data["timeout"]["maximum"] == 60 and data["timeout"]["exclusiveMinimum"] is True
    assert data["customer_id"]["pattern"] == PRINTABLE_PATTERN


def test_the_patterns_refuse_what_the_schemas_refuse():
    # Every character but lone surrogates, which the patterns leave out on purpose.
    for point in [*range(0xD800), *range(0xE000, 0x10000), *range(0x10000, sys.maxunicode, 97)]:
        char = chr(point)
        allowed = not UNPRINTABLE.search(char)
        assert bool(re.fullmatch(PRINTABLE_PATTERN, char)) == allowed, hex(point)
        assert bool(re.fullmatch(TEXT_PATTERN, f" {char} ")) == (allowed and not char.isspace())


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.spec_url = [], None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.urls += [attributes[name] for name in ("src", "href") if name in attributes]
        self.spec_url = attributes.get("data-spec-url", self.spec_url)


def test_the_docs_page_loads_only_local_assets(client):
    page = client.get("/docs")  # no token: a reader authorizes inside the page
    parser = _Assets()
    parser.feed(page.get_data(as_text=True))

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert parser.spec_url == "/openapi.json"
    assert len(parser.urls) == 5
    for url in [*parser.urls, parser.spec_url]:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        body = asset.get_data()
        assert body, url
        assert not re.search(rb"""(?:src|href)=["']?https?:|url\(["']?https?:""", body), url
    initializer = client.get("/docs/docs.js").get_data(as_text=True)
    assert "validatorUrl: null" in initializer  # else the document goes to swagger.io


@pytest.mark.parametrize("name", ["index.html", "swagger-ui.js.map", "..%2Fsetup.cfg"])
def test_files_outside_the_docs_page_are_not_served(client, name):
    # With a token: an unknown path answers 401 before 404 without one.
    error_of(client.get(f"/docs/{name}", headers=bearer()), "NOT_FOUND")
