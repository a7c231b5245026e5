"""GET /tasks: newest first, filters, paging by cursor, owner isolation, the scan budget."""
import base64
import json
import time

import pytest

from app.auth import authenticate, known_digests
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    bearer,
    error_of,
    make_app,
)
from tasks import keys
from tasks.connections import redis_now
from tasks.registry import NewTask, TaskRegistry, new_task_id
from tasks.task_search import TaskQuery, TaskSearch

MAX_PAGES = 200  # a cursor that never ends fails the test instead of hanging it


def owner_of(token: str) -> str:
    """The owner id the API records for a token's tasks."""
    return authenticate(f"Bearer {token}", known_digests([token], [])).id


def store(registry, count: int, token: str = CHANNEL_TOKEN, **spec) -> list[str]:
    """Store ``count`` tasks in one accept (one created time); spec values may be lists."""
    tasks = []
    for index in range(count):
        pick = {name: (value[index % len(value)] if isinstance(value, list) else value)
                for name, value in spec.items()}
        fields = {"type": "sentiment_analysis", "text": pick.get("text", "Fine service."),
                  "owner": owner_of(token)}
        if pick.get("customer_id"):
            fields["customer_id"] = pick["customer_id"]
        tasks.append(NewTask(new_task_id(), pick.get("channel", "chat"),
                             pick.get("priority", "normal"), fields))
    registry.accept(tasks, [("nowhere", "message")], [0] * count)
    return [task.task_id for task in tasks]


def newest_first(redis_client, task_ids) -> list[str]:
    """The ids in the documented order: later accept time first, then the larger id."""
    created = {i: float(redis_client.hget(keys.task(i), "created_at")) for i in task_ids}
    return sorted(task_ids, key=lambda i: (created[i], i), reverse=True)


def every_page(client, query: str = "", token: str = OPERATOR_TOKEN, limit: int = 7):
    """All pages of a query, following next_cursor to the end."""
    pages, cursor = [], None
    for _ in range(MAX_PAGES):
        url = f"/tasks?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        pages.append(page["tasks"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    pytest.fail(f"still a next_cursor after {MAX_PAGES} pages")


def ids_of(pages) -> list[str]:
    return [task["task_id"] for page in pages for task in page]


@pytest.fixture
def registry(app):
    return app.extensions["registry"]


def test_tasks_are_listed_newest_first_as_summaries(client, registry, redis_client):
    first = store(registry, 3, customer_id="CUST1", text="Terrible wait, rude agent.")
    second = store(registry, 2, channel="email", priority="high")
    registry.claim(first[:1], "test-worker")
    registry.complete({first[0]: {"sentiment": "negative", "confidence": 0.8}})

    answer = client.get("/tasks", headers=bearer(OPERATOR_TOKEN)).get_json()

    assert [t["task_id"] for t in answer["tasks"]] == newest_first(redis_client, first + second)
    assert answer["next_cursor"] is None
    done = next(t for t in answer["tasks"] if t["task_id"] == first[0])
    assert done == {"task_id": first[0], "status": "completed", "channel": "chat",
                    "priority": "normal", "customer_id": "CUST1",
                    "created_at": done["created_at"], "finished_at": done["finished_at"],
                    "sentiment": "negative", "error_code": None}
    assert done["created_at"].endswith("+00:00") and done["finished_at"] >= done["created_at"]
    assert answer["tasks"][0]["customer_id"] is None  # the email ones have none


def test_paging_neither_repeats_nor_skips_while_tasks_arrive(client, registry, redis_client):
    stored = store(registry, 40) + store(registry, 40, channel="voice") + store(registry, 5)
    expected = newest_first(redis_client, stored)

    seen, cursor, arrived = [], None, []
    for _ in range(MAX_PAGES):
        page = client.get("/tasks?limit=7" + (f"&cursor={cursor}" if cursor else ""),
                          headers=bearer(OPERATOR_TOKEN)).get_json()
        seen += [t["task_id"] for t in page["tasks"]]
        arrived += store(registry, 3)  # newer than every page still to come
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert not set(arrived) & set(seen)


def test_filters_by_status_channel_and_priority(client, registry, redis_client):
    ids = store(registry, 30, channel=["chat", "voice", "email"],
                priority=["high", "normal", "low", "normal", "high"])
    processing, completed, failed, cancelled = ids[0:6], ids[6:14], ids[14:18], ids[18:21]
    registry.claim(processing + completed + failed, "test-worker")
    registry.complete({i: {"sentiment": "positive", "confidence": 1.0} for i in completed})
    for task_id in failed:
        registry.fail(task_id, "ANALYSIS_FAILED", "for the test")
    for task_id in cancelled:
        registry.cancel(task_id)
    queued = ids[21:]
    states = {"queued": queued, "processing": processing, "completed": completed,
              "failed": failed, "cancelled": cancelled}

    def expected(status=None, channel=None, priority=None):
        return sorted(i for i in (states[status] if status else ids)
                      if channel in (None, redis_client.hget(keys.task(i), "channel"))
                      and priority in (None, redis_client.hget(keys.task(i), "priority")))

    for status in states:
        listed = ids_of(every_page(client, f"status={status}", limit=3))
        assert sorted(listed) == expected(status), status
        assert all(t["status"] == status for t in sum(every_page(client, f"status={status}"), []))
    for query, filters in [("channel=voice", {"channel": "voice"}),
                           ("channel=email&priority=high",
                            {"channel": "email", "priority": "high"}),
                           ("status=queued&channel=chat", {"status": "queued", "channel": "chat"}),
                           ("status=queued&priority=low", {"status": "queued", "priority": "low"}),
                           ("status=failed&channel=voice",
                            {"status": "failed", "channel": "voice"})]:
        listed = ids_of(every_page(client, query, limit=2))
        assert len(listed) == len(set(listed))
        assert sorted(listed) == expected(**filters), query
    failed_page = client.get("/tasks?status=failed", headers=bearer(OPERATOR_TOKEN)).get_json()
    assert {t["error_code"] for t in failed_page["tasks"]} == {"ANALYSIS_FAILED"}


def test_filters_by_customer_and_accept_time(client, registry, redis_client):
    early = store(registry, 4, customer_id=["CUST-A", "CUST-B"])
    time.sleep(0.01)
    middle_from = redis_now(redis_client)
    middle = store(registry, 4, customer_id=["CUST-A", "CUST-B"])
    time.sleep(0.01)
    late_from = redis_now(redis_client)
    late = store(registry, 4, customer_id=["CUST-A", "CUST-B"])

    def iso(epoch):
        from datetime import UTC, datetime
        return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")

    customer_a = ids_of(every_page(client, "customer_id=CUST-A", limit=2))
    assert customer_a == newest_first(redis_client, (early + middle + late)[::2])
    in_range = ids_of(every_page(client, f"since={iso(middle_from)}&until={iso(late_from)}"))
    assert in_range == newest_first(redis_client, middle)
    assert ids_of(every_page(client, f"since={iso(late_from)}")) == newest_first(
        redis_client, late)
    a_before = ids_of(every_page(client, f"customer_id=CUST-A&until={iso(middle_from)}"))
    assert a_before == newest_first(redis_client, early[::2])
    # by-state sources check the accept time on each task
    queued_b = ids_of(every_page(client, f"status=queued&since={iso(middle_from)}"
                                         f"&until={iso(late_from)}"))
    assert queued_b == newest_first(redis_client, middle)
    assert client.get("/tasks?customer_id=nobody",
                      headers=bearer(OPERATOR_TOKEN)).get_json() == {"tasks": [],
                                                                     "next_cursor": None}


def test_a_channel_token_lists_only_its_own_tasks(client, registry, redis_client):
    mine = store(registry, 5, customer_id="CUST-SHARED")
    theirs = store(registry, 5, token=OTHER_CHANNEL_TOKEN, customer_id="CUST-SHARED")

    assert sorted(ids_of(every_page(client, token=CHANNEL_TOKEN))) == sorted(mine)
    assert sorted(ids_of(every_page(client, "customer_id=CUST-SHARED",
                                    token=OTHER_CHANNEL_TOKEN))) == sorted(theirs)
    assert sorted(ids_of(every_page(client))) == sorted(mine + theirs)


def test_the_scan_budget_ends_a_page_early_with_a_cursor(redis_server, redis_client):
    app = make_app(redis_server.url, TASK_SEARCH_SCAN_LIMIT=10)
    client, registry = app.test_client(), app.extensions["registry"]
    rare = store(registry, 2, channel="voice")
    store(registry, 35, channel="chat")
    rare += store(registry, 1, channel="voice")

    pages = every_page(client, "channel=voice", limit=5)

    assert ids_of(pages) == newest_first(redis_client, rare)
    assert len(pages) >= 4  # 38 ids read at most 10 at a time
    assert any(page == [] for page in pages[:-1])  # an empty page still continues


def test_a_text_preview_on_request(client, registry):
    [task_id] = store(registry, 1, text="Très déçu 😡 by the service today")

    plain = client.get("/tasks", headers=bearer(OPERATOR_TOKEN)).get_json()["tasks"][0]
    short = client.get("/tasks?preview=11", headers=bearer(OPERATOR_TOKEN)).get_json()["tasks"][0]
    whole = client.get("/tasks?preview=500", headers=bearer(OPERATOR_TOKEN)).get_json()["tasks"][0]

    assert "text_preview" not in plain
    assert short["text_preview"] == "Très déçu 😡"
    assert whole["text_preview"] == "Très déçu 😡 by the service today"


@pytest.mark.parametrize("query, field", [
    ("status=running", "status"), ("channel=fax", "channel"), ("limit=0", "limit"),
    ("limit=501", "limit"), ("since=yesterday", "since"), ("cursor=%21%21", "cursor"),
    ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
    ("preview=501", "preview"),
])
def test_a_bad_query_is_invalid_input(client, query, field):
    error = error_of(client.get(f"/tasks?{query}", headers=bearer(OPERATOR_TOKEN)),
                     "INVALID_INPUT")
    assert field in error["details"]


@pytest.mark.parametrize("forged", [["created", "nan", "task_x"], ["created", "1e999", "t"],
                                    ["created", " 1", "t"], ["created", 1.5, "t"], ["created"]])
def test_a_forged_cursor_is_invalid_input(client, forged):
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()

    error = error_of(client.get(f"/tasks?cursor={cursor}", headers=bearer(OPERATOR_TOKEN)),
                     "INVALID_INPUT")

    assert error["details"] == {"cursor": "not a cursor of this API"}


def test_a_cursor_only_continues_the_query_it_came_from(client, registry):
    store(registry, 3)
    cursor = client.get("/tasks?limit=1", headers=bearer(OPERATOR_TOKEN)).get_json()["next_cursor"]

    error = error_of(client.get(f"/tasks?status=failed&cursor={cursor}",
                                headers=bearer(OPERATOR_TOKEN)), "INVALID_INPUT")

    assert "cursor" in error["details"]


def test_accepts_trim_the_index_as_tasks_expire(redis_server, redis_client):
    app = make_app(redis_server.url, TASK_TTL_SECONDS=1)
    registry = app.extensions["registry"]
    old = store(registry, 3, customer_id="CUST-OLD")
    time.sleep(2.1)  # past the TTL: the hashes are gone
    # One accept in 16, picked by its random id's last digit, trims a customer's index.
    task = NewTask(new_task_id()[:-1] + "0", "chat", "normal",
                   {"text": "Hello again", "owner": "test", "customer_id": "CUST-OLD"})
    registry.accept([task], [("nowhere", "message")], [0])
    new = [task.task_id]

    assert redis_client.zrange(keys.TASK_INDEX, 0, -1) == new
    assert redis_client.zrange(keys.customer_tasks("CUST-OLD"), 0, -1) == new
    assert not any(redis_client.exists(keys.task(i)) for i in old)
    assert redis_client.ttl(keys.customer_tasks("CUST-OLD")) > 1


def test_sources_are_merged_in_order_whatever_the_chunk(registry, redis_client):
    """Queued tasks come from nine waiting sets walked one id at a time, then merged."""
    waiting = []
    for _ in range(4):
        waiting += store(registry, 9, channel=["chat", "voice", "email"],
                         priority=["high", "normal", "low", "low"])
    search = TaskSearch(redis_client, budget=1000, chunk=1)

    listed, cursor = [], None
    for _ in range(MAX_PAGES):
        page = search.search(TaskQuery(status="queued", limit=10, cursor=cursor))
        listed += [row["task_id"] for row in page.tasks]
        if page.next is None:
            break
        cursor = page.next

    assert listed == newest_first(redis_client, waiting)


def test_a_late_change_keeps_the_customers_index_alive(redis_client):
    """The index outlives every task it names: erasure finds them all through it."""
    registry = TaskRegistry(redis_client, ttl_seconds=30, event_maxlen=1000,
                            estimate_window_seconds=60, max_attempts=3,
                            customer_index_grace_seconds=2)
    [claimed] = store(registry, 1, customer_id="LATE-CLAIM")
    [cancelled] = store(registry, 1, customer_id="LATE-CANCEL")
    [retried] = store(registry, 1, customer_id="LATE-RETRY")
    [untouched] = store(registry, 1, customer_id="UNTOUCHED")
    registry.claim([retried], "test-worker")
    registry.fail(retried, "ANALYSIS_FAILED", "for the test")
    assert redis_client.pttl(keys.customer_tasks("UNTOUCHED")) > 31_000  # TTL + grace
    time.sleep(1.3)  # past half the grace: a change now would outlive the index

    registry.claim([claimed], "test-worker")
    registry.cancel(cancelled)
    registry.retry({retried: ("nowhere", "message")})

    for customer in ("LATE-CLAIM", "LATE-CANCEL", "LATE-RETRY"):
        assert redis_client.pttl(keys.customer_tasks(customer)) > 31_000, customer
    assert redis_client.pttl(keys.customer_tasks("UNTOUCHED")) < 31_000
