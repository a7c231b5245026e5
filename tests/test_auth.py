"""Bearer tokens: the pure checks, then what a client sees through the real app."""
import base64
import hashlib

import pytest

from app.auth import (
    CHANNEL,
    OPERATOR,
    Principal,
    authenticate,
    digest,
    known_digests,
    require_operator,
)
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    bearer,
    error_of,
    make_app,
    submission,
)
from tasks import keys


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()




def submit(client, token=CHANNEL_TOKEN) -> str:
    response = client.post("/task", json=submission(), headers=bearer(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["task_id"]


# --- the pure functions ---

KNOWN = known_digests((CHANNEL_TOKEN, "sha256:" + sha256_hex(OTHER_CHANNEL_TOKEN)),
                      (OPERATOR_TOKEN,))


def test_digest_of_a_plain_token_is_its_sha256():
    assert digest("s3cret") == hashlib.sha256(b"s3cret").digest()


@pytest.mark.parametrize("hex_digits", [sha256_hex("s3cret"), sha256_hex("s3cret").upper()])
def test_digest_entry_is_used_as_it_is(hex_digits):
    assert digest("sha256:" + hex_digits) == hashlib.sha256(b"s3cret").digest()


@pytest.mark.parametrize("entry", ["sha256:" + sha256_hex("s3cret")[:-2], "sha256:",
                                   "sha256:" + "zz" * 32, "sha256:" + sha256_hex("s3cret") + "00"])
def test_malformed_digest_entry_is_refused(entry):
    with pytest.raises(ValueError):
        digest(entry)


def test_known_digests_pairs_each_entry_with_its_role():
    assert KNOWN == (
        (hashlib.sha256(CHANNEL_TOKEN.encode()).digest(), CHANNEL),
        (hashlib.sha256(OTHER_CHANNEL_TOKEN.encode()).digest(), CHANNEL),
        (hashlib.sha256(OPERATOR_TOKEN.encode()).digest(), OPERATOR),
    )


def test_authenticate_names_the_role_and_a_digest_prefix():
    principal = authenticate(f"Bearer {CHANNEL_TOKEN}", KNOWN)

    assert principal == Principal(CHANNEL, sha256_hex(CHANNEL_TOKEN)[:16])
    assert not principal.is_operator
    assert authenticate(f"Bearer {OPERATOR_TOKEN}", KNOWN).is_operator


def test_a_digest_entry_and_its_plain_token_are_the_same_principal():
    plain = authenticate(f"Bearer {OTHER_CHANNEL_TOKEN}",
                         known_digests((OTHER_CHANNEL_TOKEN,), ()))

    assert authenticate(f"Bearer {OTHER_CHANNEL_TOKEN}", KNOWN) == plain


def test_the_scheme_is_case_insensitive():
    assert authenticate(f"bearer {CHANNEL_TOKEN}", KNOWN).role == CHANNEL


@pytest.mark.parametrize("header", [
    "", "Bearer", "Bearer ", "Bearer    ", CHANNEL_TOKEN, f"Token {CHANNEL_TOKEN}",
    "Basic " + base64.b64encode(f"user:{CHANNEL_TOKEN}".encode()).decode(),
    f"Basic {CHANNEL_TOKEN}", "Bearer wrong", f"Bearer {CHANNEL_TOKEN}x",
    f"Bearer {CHANNEL_TOKEN[:-1]}", f"Bearer {sha256_hex(CHANNEL_TOKEN)}",
    f"Bearer sha256:{sha256_hex(OTHER_CHANNEL_TOKEN)}",
])
def test_authenticate_refuses(header):
    assert authenticate(header, KNOWN) is None


def test_no_tokens_configured_refuses_everyone():
    assert authenticate(f"Bearer {CHANNEL_TOKEN}", known_digests((), ())) is None


# --- through the app ---

REFUSED_HEADERS = {
    "no header": {},
    "basic scheme": {"Authorization": "Basic " + base64.b64encode(
        f"user:{CHANNEL_TOKEN}".encode()).decode()},
    "wrong token": bearer("not-a-known-token"),
    "longer token": bearer(CHANNEL_TOKEN + "-and-more"),
    "shorter token": bearer(CHANNEL_TOKEN[:5]),
    "empty bearer": {"Authorization": "Bearer "},
    "scheme only": {"Authorization": "Bearer"},
}


@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
@pytest.mark.parametrize("method, path", [("POST", "/task"), ("GET", "/task/task_x")])
def test_refused_credentials_are_unauthorized(client, redis_client, headers, method, path):
    response = client.open(path, method=method, json=submission(), headers=headers)

    error = error_of(response, "UNAUTHORIZED")
    assert error["details"] == {}
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert redis_client.keys(keys.task("*")) == []


@pytest.mark.parametrize("parameter", ["token", "access_token"])
def test_a_token_in_the_query_string_is_ignored(client, redis_client, parameter):
    response = client.post(f"/task?{parameter}={CHANNEL_TOKEN}", json=submission())

    error_of(response, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert CHANNEL_TOKEN not in response.get_data(as_text=True)
    assert redis_client.keys(keys.task("*")) == []


def test_a_configured_digest_accepts_its_token(redis_server, redis_client):
    client = make_app(redis_server.url, API_TOKENS=("sha256:" + sha256_hex(CHANNEL_TOKEN),),
                      OPERATOR_TOKENS=()).test_client()

    task_id = submit(client, CHANNEL_TOKEN)

    assert client.get(f"/task/{task_id}", headers=bearer()).status_code == 200
    error_of(client.post("/task", json=submission(), headers=bearer(OTHER_CHANNEL_TOKEN)),
             "UNAUTHORIZED")


def test_the_owner_reads_its_task(client, redis_client):
    task_id = submit(client)

    response = client.get(f"/task/{task_id}", headers=bearer(CHANNEL_TOKEN))

    assert response.status_code == 200
    assert response.get_json()["task_id"] == task_id


def test_an_operator_reads_anyones_task(client, redis_client):
    task_id = submit(client, CHANNEL_TOKEN)

    response = client.get(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN))

    assert response.status_code == 200
    assert response.get_json()["task_id"] == task_id


def test_another_channel_cannot_tell_a_task_exists(client, redis_client):
    task_id = submit(client, CHANNEL_TOKEN)
    unknown_id = "task_" + "0" * 32

    theirs = error_of(client.get(f"/task/{task_id}", headers=bearer(OTHER_CHANNEL_TOKEN)),
                      "TASK_NOT_FOUND")
    unknown = error_of(client.get(f"/task/{unknown_id}", headers=bearer(OTHER_CHANNEL_TOKEN)),
                       "TASK_NOT_FOUND")

    # The same answer as for an id that never existed: nothing to learn from probing.
    assert theirs["message"] == unknown["message"]
    assert theirs["details"] == {"task_id": task_id}


@pytest.mark.parametrize("headers", [{}, bearer("not-a-known-token")], ids=["none", "wrong"])
def test_liveness_needs_no_token(client, headers):
    response = client.get("/health/live", headers=headers)

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.fixture
def operator_route_client(redis_server, redis_client):
    """A client of an app with one extra route guarded by ``require_operator``."""
    app = make_app(redis_server.url)

    def operator_only():
        require_operator()
        return {"ok": True}

    app.add_url_rule("/operator-only", "operator_only", operator_only)
    return app.test_client()


def test_require_operator_forbids_a_channel_token(operator_route_client):
    response = operator_route_client.get("/operator-only", headers=bearer(CHANNEL_TOKEN))

    error = error_of(response, "FORBIDDEN")
    assert error["details"] == {}


def test_require_operator_admits_an_operator(operator_route_client):
    response = operator_route_client.get("/operator-only", headers=bearer(OPERATOR_TOKEN))

    assert response.status_code == 200
    assert response.get_json() == {"ok": True}


def test_require_operator_route_still_needs_a_token(operator_route_client):
    error_of(operator_route_client.get("/operator-only"), "UNAUTHORIZED")


@pytest.mark.parametrize("method, path", [("TRACE", "/health/live"), ("POST", "/health/live"),
                                          ("PUT", "/task"), ("DELETE", "/channels")])
def test_a_wrong_method_is_405_without_a_token_too(client, method, path):
    # A token would not make the method right; 401 would send the client after one.
    error_of(client.open(path, method=method), "METHOD_NOT_ALLOWED")


def test_an_unknown_path_without_a_token_is_still_401(client):
    error_of(client.get("/no-such-route"), "UNAUTHORIZED")
