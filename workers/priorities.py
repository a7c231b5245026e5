"""A worker that takes some priorities only: ``celery worker --priorities high``.

kombu's Redis transport keeps one list per queue and priority step, and a worker pops from
the lists of the steps in its transport options. Restricting those steps before the
consumer connects makes a worker that never holds a lower-priority message: the Procfile's
``urgent`` worker takes ``high`` only, so a chat message does not wait for the pool of a
worker busy with a batch of long emails (without it, a ``high`` message behind a backlog of
emails waits for a pool process to finish its message of up to ``MESSAGE_SIZE`` texts).
"""
import click
from celery import Celery, bootsteps

from tasks.queues import KOMBU_PRIORITY_STEPS, PRIORITIES, PRIORITY_STEPS


def parse(value: str | None) -> tuple[str, ...]:
    """The priorities a ``--priorities`` value names, most urgent first (None: all)."""
    if not value:
        return PRIORITIES
    named = {item.strip() for item in value.split(",") if item.strip()}
    unknown = named - set(PRIORITIES)
    if unknown or not named:
        raise click.BadParameter(f"{value!r}: name some of {', '.join(PRIORITIES)}",
                                 param_hint="--priorities")
    return tuple(p for p in PRIORITIES if p in named)


def priority_steps(priorities: tuple[str, ...]) -> list[int]:
    """The kombu priority steps a worker taking ``priorities`` polls.

    Every priority keeps kombu's default steps, the ones Flower sums queue lengths over.
    """
    if set(priorities) == set(PRIORITIES):
        return list(KOMBU_PRIORITY_STEPS)
    return sorted(PRIORITY_STEPS[p] for p in priorities)


class TakePriorities(bootsteps.Step):
    """Sets the worker's priority steps before its consumer connects to the broker."""

    label = "priorities"

    def __init__(self, worker, priorities: str | None = None, **options):
        super().__init__(worker, **options)
        worker.priorities = parse(priorities)
        transport = dict(worker.app.conf.broker_transport_options or {})
        transport["priority_steps"] = priority_steps(worker.priorities)
        worker.app.conf.broker_transport_options = transport


def install(app: Celery) -> None:
    """Add the ``--priorities`` option to a Celery app's workers."""
    app.steps["worker"].add(TakePriorities)
    app.user_options["worker"].add(click.Option(
        ["--priorities"], default=None,
        help="Comma-separated priorities this worker takes (default: all)."))
