"""Accepting tasks: submissions become registry entries and Celery messages in one step.

Tasks are grouped by channel and priority, at most ``MESSAGE_SIZE`` tasks and about
``MESSAGE_CHARS`` characters to a Celery message, so a worker pays Celery's per-message cost
once per group, several workers still share a large batch, and a message of long texts stays
well within the task time limit (a 20,000-character email takes about 0.3 s).
"""
from celery import Celery

from tasks import keys
from tasks.messages import analyse_message
from tasks.registry import (
    Acceptance,
    NewTask,
    RecentCompletions,
    Refusal,
    TaskRegistry,
    new_task_id,
)

MESSAGE_SIZE = 100
MESSAGE_CHARS = 200_000


def new_task(task_type: str, data: dict, owner: str, idempotency_key: str | None = None,
             request_id: str | None = None) -> NewTask:
    """A validated submission (``TaskSubmissionSchema``'s ``data``) ready to be stored.

    ``request_id`` (the API request's ``X-Request-ID``) stays with the task, so the worker's
    log lines about it name the request that submitted it.
    """
    fields = {"type": task_type, "text": data["text"], "owner": owner}
    if request_id is not None:
        fields["request_id"] = request_id
    if data.get("customer_id") is not None:
        fields["customer_id"] = data["customer_id"]
    if data.get("timeout") is not None:
        fields["timeout"] = data["timeout"]
    if data.get("callback_url") is not None:
        fields["callback_url"] = data["callback_url"]
    return NewTask(new_task_id(), data["channel"], data["priority"], fields,
                   timeout_seconds=data.get("timeout"),
                   idempotency_key=keys.idempotency(owner, idempotency_key)
                   if idempotency_key else None)


def store(registry: TaskRegistry, celery: Celery, tasks: list[NewTask], capacity: int = 0,
          message_size: int = MESSAGE_SIZE
          ) -> tuple[list[Acceptance | Refusal], RecentCompletions]:
    """Store ``tasks`` and enqueue their messages, one per group of a channel and priority."""
    members: dict[tuple[str, str], list[list[int]]] = {}
    chars: dict[tuple[str, str], int] = {}
    for index, task in enumerate(tasks):
        route, length = (task.channel, task.priority), len(task.fields["text"])
        chunks = members.setdefault(route, [[]])
        if chunks[-1] and (len(chunks[-1]) == message_size
                           or chars[route] + length > MESSAGE_CHARS):
            chunks.append([])
            chars[route] = 0
        chunks[-1].append(index)
        chars[route] = chars.get(route, 0) + length
    groups, group_of = [], [0] * len(tasks)
    for (channel, priority), chunks in members.items():
        for chunk in chunks:
            for index in chunk:
                group_of[index] = len(groups)
            groups.append(analyse_message(celery, [tasks[i].task_id for i in chunk],
                                          channel, priority))
    return registry.accept(tasks, groups, group_of, capacity)
