"""Channels, priorities and the Celery queue each message goes to.

One queue per channel, so pausing a channel is a worker no longer consuming that queue.
Inside each queue kombu's Redis transport keeps one list per priority step, and a worker
polls every queue's step-0 list before any step-3 list, so ``high`` beats ``normal`` and
``low`` across all channels.
"""
CHANNELS = ("chat", "voice", "email")

# Celery priority on Redis: 0 is served first; values are kombu's default steps.
PRIORITY_STEPS = {"high": 0, "normal": 3, "low": 6}
PRIORITIES = tuple(PRIORITY_STEPS)  # most urgent first
DEFAULT_PRIORITY = "normal"


def queue_for(channel: str) -> str:
    """The Celery queue that carries a channel's messages."""
    return channel


# kombu's Redis transport names a queue's list for priority step n "<queue>\x06\x16<n>"
# (step 0 is the bare queue name); see kombu.transport.redis.Channel._q_for_pri. The steps
# are kombu's defaults, which Flower also assumes when it sums queue lengths.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def priority_list(queue: str, step: int) -> str:
    """The Redis list kombu keeps for one priority step of a Celery queue."""
    return f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}" if step else queue


def priority_lists(queue: str, steps) -> dict[int, str]:
    """The Redis list of each priority step of a Celery queue."""
    return {step: priority_list(queue, step) for step in steps}


def priority_of_step(step: int) -> str:
    """The platform's name of a kombu priority step (``step_9`` for a step no priority uses)."""
    for priority, value in PRIORITY_STEPS.items():
        if value == step:
            return priority
    return f"step_{step}"
