"""GET /customers/{id}/sentiment: the history the real worker writes, its trend and bounds."""
import json

import pytest

import settings
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    bearer,
    error_of,
    make_app,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys
from tasks.analysis import analyse
from tasks.customer_history import trend
from tasks.registry import NewTask, TaskRegistry, new_task_id

STEADILY_WORSE = ("It was okay, I guess.",  # 0.2263
                  "The delivery was late.",  # 0.0
                  "I have been waiting for a week, this is really bad.")  # -0.5849
FURIOUS = "This is the worst service ever. I am furious!"  # -0.8439


def submit(client, text, token=CHANNEL_TOKEN, **data) -> str:
    response = client.post("/task", json=submission(text, **data), headers=bearer(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["task_id"]


def complete_in_turn(client, texts, customer_id, **data) -> list[str]:
    """Submit each text once the one before completed: the history orders by completion."""
    if customer_id is not None:
        data["customer_id"] = customer_id
    task_ids = []
    for text in texts:
        task_ids.append(submit(client, text, **data))
        wait_until(lambda: status(client, task_ids[-1]) == "completed", 30,
                   message=f"{task_ids[-1]} to complete")
    return task_ids


def status(client, task_id) -> str:
    return client.get(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN)).get_json()["status"]


def history(client, customer_id, token=OPERATOR_TOKEN) -> dict:
    response = client.get(f"/customers/{customer_id}/sentiment", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- the trend alone ------------------------------------------------------------------------

def test_the_trend_compares_the_recent_half_with_the_earlier_half():
    assert trend([]) is None and trend([0.5]) is None
    falling = trend([0.2263, 0.0, -0.5849])  # the middle one belongs to neither half
    assert (falling.direction, falling.compared) == ("worsening", 1)
    assert falling.change == pytest.approx(-0.8112)
    rising = trend([-0.8, -0.6, 0.1, 0.4])
    assert rising.direction == "improving" and rising.change == pytest.approx(0.95)
    assert rising.earlier_mean == pytest.approx(-0.7)
    assert trend([0.3, 0.25, 0.35, 0.3]).direction == "stable"  # moved by 0.05


# --- through the session worker -------------------------------------------------------------

@pytest.fixture
def api(client, worker):
    return client


def test_history_lists_the_messages_newest_first_with_the_trend(api):
    task_ids = complete_in_turn(api, STEADILY_WORSE, "CUST-1")

    answer = history(api, "CUST-1")

    assert answer["customer_id"] == "CUST-1" and answer["history_limit"] == 50
    assert [m["task_id"] for m in answer["messages"]] == task_ids[::-1]
    assert [(m["channel"], m["sentiment"], m["compound"]) for m in answer["messages"]] == [
        ("chat", "negative", -0.5849), ("chat", "neutral", 0.0), ("chat", "positive", 0.2263)]
    times = [m["at"] for m in answer["messages"]]
    assert times == sorted(times, reverse=True) and times[0].endswith("+00:00")
    assert answer["trend"] == {"direction": "worsening", "change": -0.8112,
                               "earlier_mean": 0.2263, "recent_mean": -0.5849, "compared": 1}


def test_a_channel_token_sees_only_the_messages_it_submitted(api):
    mine = complete_in_turn(api, ["Thanks for the quick help!"], "CUST-2")
    theirs = complete_in_turn(api, [FURIOUS], "CUST-2", token=OTHER_CHANNEL_TOKEN)

    own_view = history(api, "CUST-2", token=CHANNEL_TOKEN)
    operator_view = history(api, "CUST-2")

    assert [m["task_id"] for m in own_view["messages"]] == mine
    assert own_view["trend"] is None  # one message: nothing to compare
    assert [m["task_id"] for m in operator_view["messages"]] == theirs + mine
    assert operator_view["trend"]["direction"] == "worsening"


def test_a_customer_without_messages_has_an_empty_history(api):
    answer = history(api, "NEVER-SEEN")

    assert answer["messages"] == [] and answer["trend"] is None


def test_a_task_without_customer_writes_no_history(api, redis_client):
    complete_in_turn(api, ["Thanks for the quick help!"], None)

    assert not list(redis_client.scan_iter(keys.CUSTOMER_HISTORY.replace("%s", "*")))


def test_history_needs_a_token(api):
    error_of(api.get("/customers/CUST-1/sentiment"), "UNAUTHORIZED")


def test_a_task_completed_twice_is_in_the_history_once(api, redis_client):
    """Redelivery: the second completion finds the task no longer processing."""
    registry = TaskRegistry.from_settings(redis_client, settings.load())
    task = NewTask(new_task_id(), "chat", "high",
                   {"text": FURIOUS, "owner": "test", "customer_id": "CUST-3"})
    registry.accept([task], [("nowhere", "a message no worker reads")], [0])
    [claim] = registry.claim([task.task_id], "test-worker@host")
    result = {**analyse(FURIOUS), "processing_time_ms": 0.1}

    assert claim.outcome == "claimed"
    assert registry.complete({task.task_id: result}) == 1
    assert registry.complete({task.task_id: result}) == 0

    assert [m["task_id"] for m in history(api, "CUST-3")["messages"]] == [task.task_id]
    escalations = [json.loads(fields["event"]) for _, fields in redis_client.xrange(keys.EVENTS)
                   if json.loads(fields["event"]).get("type") == "escalation"]
    assert [e["task_id"] for e in escalations] == [task.task_id]
    channels = api.get("/channels", headers=bearer()).get_json()["channels"]
    assert channels["chat"]["escalated"] == 1 and channels["chat"]["completed"] == 1


def test_messages_completed_in_one_group_keep_their_order(api, redis_client):
    """One worker message carries several tasks of a customer: each sees the ones before."""
    registry = TaskRegistry.from_settings(redis_client, settings.load())
    tasks = [NewTask(new_task_id(), "email", "low",
                     {"text": "...", "owner": "test", "customer_id": "CUST-5"})
             for _ in range(3)]
    registry.accept(tasks, [("nowhere", "a message no worker reads")], [0, 0, 0])
    registry.claim([task.task_id for task in tasks], "test-worker@host")
    compounds = [0.2263, 0.0, -0.5849]

    registry.complete({task.task_id: {"sentiment": "x", "processing_time_ms": 0.1,
                                      "document_score": compound}
                       for task, compound in zip(tasks, compounds, strict=True)})

    answer = history(api, "CUST-5")
    assert [m["task_id"] for m in answer["messages"]] == [t.task_id for t in tasks][::-1]
    escalated = [json.loads(registry.get(t.task_id)["result"])["escalate"] for t in tasks]
    assert escalated == [False, False, True]


# --- a worker with a short history ----------------------------------------------------------

HISTORY_SIZE = 3


@pytest.fixture(scope="module")
def short_history_worker(private_redis, tmp_path_factory):
    with running_worker(private_redis.url, tmp_path_factory.mktemp("customers"),
                        "--concurrency", "1", CUSTOMER_HISTORY_SIZE=HISTORY_SIZE,
                        CUSTOMER_HISTORY_TTL_SECONDS=3600) as worker:
        yield worker


def test_history_keeps_only_the_newest_messages_and_expires(private_redis, private_store,
                                                            short_history_worker):
    client = make_app(private_redis.url, CUSTOMER_HISTORY_SIZE=HISTORY_SIZE).test_client()
    texts = ["Thanks for the quick help!", "It was okay, I guess.", *STEADILY_WORSE[1:],
             FURIOUS]
    task_ids = complete_in_turn(client, texts, "CUST-4")

    answer = history(client, "CUST-4")

    assert answer["history_limit"] == HISTORY_SIZE
    assert [m["task_id"] for m in answer["messages"]] == task_ids[:-4:-1]
    assert [m["compound"] for m in answer["messages"]] == [-0.8439, -0.5849, 0.0]
    assert 3500 < private_store.ttl(keys.customer_history("CUST-4")) <= 3600
