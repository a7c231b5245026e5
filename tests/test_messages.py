"""Messages the registry enqueues are the ones kombu would publish, and workers run them."""
import base64
import json

import redis as redis_py
from celery.utils.saferepr import saferepr

from tasks.celery_app import make_celery
from tasks.messages import TASK_NAME, analyse_message, args_repr, list_key

IGNORED = {("properties", "delivery_tag"), ("properties", "reply_to"), ("headers", "origin")}


def comparable(message: dict) -> dict:
    """A message without the fields that differ on every publish."""
    return {section: ({k: v for k, v in value.items() if (section, k) not in IGNORED}
                      if isinstance(value, dict) else value)
            for section, value in message.items()}


def test_a_built_message_equals_what_kombu_publishes(redis_server):
    url = redis_server.database(5)  # no worker consumes it: the message stays to be read
    redis_client = redis_py.Redis.from_url(url, decode_responses=True)
    redis_client.flushdb()
    celery = make_celery(url)
    celery.send_task(TASK_NAME, args=[["task_abc"]], queue="voice", exchange="",
                     routing_key="voice", priority=0, task_id="task_abc")
    [published] = redis_client.lrange("voice", 0, -1)

    key, built = analyse_message(celery, ["task_abc"], "voice", "high")

    assert key == "voice"
    assert comparable(json.loads(built)) == comparable(json.loads(published))


def test_a_message_names_its_tasks_and_goes_to_the_priority_list():
    key, built = analyse_message(make_celery(), ["task_1", "task_2"], "email", "low")
    message = json.loads(built)

    assert key == list_key("email", "low") == "email\x06\x166"
    assert json.loads(base64.b64decode(message["body"]))[0] == [["task_1", "task_2"]]
    assert message["properties"]["priority"] == 6


def test_args_repr_is_celerys_own_for_a_short_group_and_capped_for_a_long_one():
    few = [f"task_{i:032x}" for i in range(3)]
    many = [f"task_{i:032x}" for i in range(100)]

    assert args_repr(few, 1024) == saferepr([few], 1024)
    assert len(args_repr(many, 1024)) == 1024 + len("...")
    assert args_repr(many, 1024).startswith(repr([many])[:1024])
