"""Celery messages built without I/O, so the registry can enqueue them in its own script.

Celery builds the task message (``amqp.create_task_message``); the envelope around it is
what kombu's virtual channel adds before its Redis transport ``LPUSH``es a message. Writing
that one list entry inside the accept script makes storing a task and enqueuing it one
atomic step: a task is never stored without its message, nor sent without being stored.
``tests/test_messages.py`` checks the result against what kombu itself publishes.
"""
import base64
import json
import uuid

from celery import Celery

from tasks.queues import PRIORITY_STEPS, priority_list, queue_for

TASK_NAME = "sentiment.analyse"  # the Celery task (tasks.sentiment) these messages ask for


def list_key(queue: str, priority: str) -> str:
    """The Redis list kombu keeps for a queue's messages of one priority."""
    return priority_list(queue, PRIORITY_STEPS[priority])


def args_repr(task_ids: list[str], limit: int) -> str:
    """What Celery's ``saferepr`` makes of ``[task_ids]`` for Flower and logs, for a tenth
    of its cost: ids are plain strings, so ``repr`` is safe and only the length needs a cap."""
    text = repr([task_ids])
    return text if len(text) <= limit else text[:limit] + "..."


def analyse_message(celery: Celery, task_ids: list[str], channel: str,
                    priority: str) -> tuple[str, str]:
    """The list key and the serialized message that asks a worker to analyse ``task_ids``."""
    queue = queue_for(channel)
    message_id = task_ids[0] if len(task_ids) == 1 else str(uuid.uuid4())
    headers, properties, body, _ = celery.amqp.create_task_message(
        message_id, TASK_NAME, [task_ids], {}, ignore_result=None,
        argsrepr=args_repr(task_ids, celery.amqp.argsrepr_maxsize), kwargsrepr="{}")
    properties.update(
        delivery_mode=2,
        delivery_info={"exchange": "", "routing_key": queue},
        priority=PRIORITY_STEPS[priority],
        body_encoding="base64",
        delivery_tag=str(uuid.uuid4()),
    )
    payload = {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": properties,
    }
    return list_key(queue, priority), json.dumps(payload)
