"""Grouping tasks into Celery messages."""
import json

import pytest
import redis as redis_py

from tasks import submission
from tasks.celery_app import make_celery
from tasks.connections import connect
from tasks.registry import TaskRegistry

DATABASE = 10  # no worker consumes it


@pytest.fixture
def store(redis_server):
    client = redis_py.Redis.from_url(redis_server.database(DATABASE), decode_responses=True)
    client.flushdb()
    registry = TaskRegistry(connect(redis_server.database(DATABASE)), 60, 1000, 60, 3)
    celery = make_celery(redis_server.database(DATABASE))

    def run(texts, **options):
        tasks = [submission.new_task("sentiment_analysis",
                                     {"text": t, "channel": "email", "priority": "low"}, "x")
                 for t in texts]
        submission.store(registry, celery, tasks, **options)
        return [len(json.loads(m)["headers"]["argsrepr"].split("task_")) - 1
                for m in reversed(client.lrange("email\x06\x166", 0, -1))]
    yield run
    client.flushdb()


def test_messages_carry_at_most_message_size_tasks(store):
    assert store(["short"] * 7, message_size=3) == [3, 3, 1]


def test_long_texts_are_spread_over_messages(store):
    long_text = "x" * (submission.MESSAGE_CHARS // 2)
    assert store([long_text] * 5) == [2, 2, 1]
