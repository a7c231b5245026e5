"""POST /tasks: many messages in one request, each item standing on its own."""
import json

import pytest
import redis as redis_py
import requests
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conftest import (
    CHANNEL_TOKEN,
    bearer,
    error_of,
    make_app,
    read_snippets,
    submission,
    wait_until,
)
from tasks import keys
from tasks.analysis import RESULT_FIELDS, analyse


def post_batch(client, items, **headers):
    return client.post("/tasks", json={"tasks": items}, headers={**bearer(), **headers})


def test_each_item_gets_its_own_answer_in_order(client):
    items = [submission("Love it"), {"type": "poem", "data": {}}, submission("Hate it")]

    response = post_batch(client, items)

    assert response.status_code == 202
    first, invalid, last = response.get_json()["tasks"]
    assert first["status"] == last["status"] == "accepted"
    assert last["queue_position"] == first["queue_position"] + 1
    assert invalid["error"]["code"] == "INVALID_INPUT"
    assert set(invalid["error"]["details"]) == {"type", "data.text", "data.channel"}


def test_a_batch_goes_out_as_one_message_per_channel_and_priority(redis_server):
    url = redis_server.database(9)  # no worker consumes it: the messages stay to be read
    redis_client = redis_py.Redis.from_url(url, decode_responses=True)
    redis_client.flushdb()
    client = make_app(url).test_client()
    items = [submission(channel="chat", priority="high") for _ in range(3)]
    items += [submission(channel="email", priority="low") for _ in range(2)]

    post_batch(client, items)

    lists = {key: redis_client.lrange(key, 0, -1) for key in ("chat", "email\x06\x166")}
    assert [len(messages) for messages in lists.values()] == [1, 1]
    sizes = [len(json.loads(m)["headers"]["argsrepr"].split(",")) for m in
             lists["chat"] + lists["email\x06\x166"]]
    assert sizes == [3, 2]


@pytest.mark.parametrize("body, field", [
    ([], "body"), ({"tasks": "x"}, "tasks"), ({"tasks": []}, "tasks"),
    ({"tasks": [], "extra": 1}, "body"),
])
def test_a_body_that_is_not_a_batch_is_invalid_input(client, body, field):
    response = client.post("/tasks", json=body, headers=bearer())
    assert field in error_of(response, "INVALID_INPUT")["details"]


def test_a_batch_over_the_limit_is_refused_whole(redis_server, redis_client):
    client = make_app(redis_server.url, MAX_BATCH_SIZE=3).test_client()

    response = post_batch(client, [submission()] * 4)

    assert "tasks" in error_of(response, "INVALID_INPUT")["details"]
    assert not list(redis_client.scan_iter(keys.TASK % "*"))


def test_an_idempotency_key_covers_the_whole_batch(client):
    items = [submission("one"), submission("two")]
    first = post_batch(client, items, **{"Idempotency-Key": "batch-9"}).get_json()["tasks"]

    again = post_batch(client, items, **{"Idempotency-Key": "batch-9"}).get_json()["tasks"]

    assert [a["task_id"] for a in again] == [f["task_id"] for f in first]
    assert all(a["replayed"] for a in again)


def test_each_item_counts_against_the_rate_limit(redis_server, redis_client):
    client = make_app(redis_server.url, RATE_LIMIT="5/minute").test_client()

    assert post_batch(client, [submission()] * 4).status_code == 202
    assert client.get("/task/task_x", headers=bearer()).headers["X-RateLimit-Remaining"] == "0"
    assert post_batch(client, [submission()] * 2).status_code == 429


def test_a_large_batch_may_exceed_the_single_request_body_limit(redis_server, redis_client):
    client = make_app(redis_server.url, MAX_CONTENT_LENGTH=1024).test_client()

    response = post_batch(client, [submission("x" * 100)] * 30)

    assert response.status_code == 202


def test_batch_results_equal_in_process_vader(api_server, worker, redis_client):
    texts = read_snippets(1000)
    response = requests.post(f"{api_server.url}/tasks", timeout=30,
                             json={"tasks": [submission(t) for t in texts]},
                             headers=bearer(CHANNEL_TOKEN))
    task_ids = [answer["task_id"] for answer in response.json()["tasks"]]

    def results():
        tasks = [redis_client.hget(keys.task(i), "result") for i in task_ids]
        return tasks if all(tasks) else None
    stored = wait_until(results, 60, interval=0.2, message="the batch to complete")

    stock_vader = SentimentIntensityAnalyzer()
    for text, stored_result in zip(texts, stored, strict=True):
        result = json.loads(stored_result)
        assert result["scores"] == stock_vader.polarity_scores(text), text
        assert result["processing_time_ms"] >= 0
        analysed = {key: value for key, value in result.items() if key in RESULT_FIELDS}
        assert analysed == analyse(text), text
