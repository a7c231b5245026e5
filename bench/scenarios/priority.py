"""5. Priority isolation: ``high`` chat messages behind a backlog of ``low`` email.

Per stack: its worker is stopped, wrk queues the backlog through ``POST /task`` (bounded in
count and time), the worker starts again, and the high messages go one at a time, each timed
over its whole trip: POST, queue, analysis, result visible on GET. The worker is stopped
again at the end, so the rest of the backlog does not load the machine for what follows.
Standing workers (the project's urgent worker) run throughout, as under ``make run``.

Twice: with emails as long as the tweets (the issue's scenario), and with emails of
``EMAIL_SNIPPETS`` snippets each, about the length of a real one, which keep a worker's pool
busy for longer per message.
"""
import logging
import time

from bench import loadgen
from bench.context import Context, Skipped
from bench.stacks import CHANNEL_TOKEN, Stack
from bench.stats import ratio, summary_ms
from bench.trips import trip

logger = logging.getLogger(__name__)

TRIP_TIMEOUT_SECONDS = 30
STALL_SECONDS = 1.0  # the backlog stopped growing: wrk is done (or failing)
EMAIL_SNIPPETS = 20
DISTINCT_EMAILS = 200


class BacklogWatch:
    """Says when the backlog reached its size or stopped growing: wrk can be interrupted."""

    def __init__(self, stack: Stack, target: int):
        self.stack, self.target = stack, target
        self.last, self.changed = -1, time.monotonic()

    def __call__(self) -> bool:
        size = self.stack.backlog()
        now = time.monotonic()
        if size != self.last:
            self.last, self.changed = size, now
        return size >= self.target or (size > 0 and now - self.changed > STALL_SECONDS)


def long_emails(ctx: Context, stack: Stack) -> list[dict]:
    """``low`` email submissions of ``EMAIL_SNIPPETS`` consecutive snippets each."""
    texts = ctx.texts.texts
    return [stack.submission(" ".join(texts[(i * EMAIL_SNIPPETS + j) % len(texts)]
                                      for j in range(EMAIL_SNIPPETS)), "email", "low")
            for i in range(DISTINCT_EMAILS)]


def run_stack(ctx: Context, stack: Stack, bodies: list[dict], name: str) -> dict:
    plan = ctx.plan
    stack.stop_workers(list(stack.workers))
    load = loadgen.Load(plan.wrk_connections, plan.wrk_threads, plan.backlog_timeout_seconds,
                        limit=plan.backlog_tasks)
    watch = BacklogWatch(stack, plan.backlog_tasks)
    wrk = loadgen.run(ctx.wrk, stack.port, bodies, CHANNEL_TOKEN, load, ctx.work_dir,
                      f"backlog-{name}-{stack.name}", stop_when=watch)
    queued = stack.backlog()
    logger.info("priority: %s backlog of %d low tasks; starting its worker", stack.name, queued)
    hostname = stack.start_worker(0)
    stack.wait_workers([hostname])
    texts = ctx.texts.texts
    client = stack.client()
    trips = []
    try:
        backlog_at_first = stack.backlog()
        redis_before = ctx.redis_counters()
        for index in range(plan.high_messages):
            body = stack.submission(texts[(index * 37) % len(texts)], "chat", "high")
            trips.append(trip(stack, client, body, TRIP_TIMEOUT_SECONDS))
        backlog_after_last = stack.backlog()
        # Forks (AOF rewrites) and late fsyncs while the high messages went: a slow tail's
        # likeliest cause besides the backlog itself.
        redis_events = {name: value - redis_before[name]
                        for name, value in ctx.redis_counters().items()}
    finally:
        client.close()
        stack.stop_worker(hostname)
    stack.drop_backlog()
    done = [t for t in trips if "seconds" in t]
    stored = stack.finish_times([t["task_id"] for t in done])
    return {
        "email_chars_mean": round(sum(len(b["data"]["text"]) for b in bodies) / len(bodies)),
        "backlog_queued": queued,
        "backlog_refused": wrk["non_2xx"],
        "backlog_at_first_high": backlog_at_first,
        "backlog_after_last_high": backlog_after_last,
        "backlog_accept_per_s_no_worker": wrk["accepted_per_s"],
        "backlog_submit_ms_no_worker": {"p50": wrk["latency_ms"]["p50"],
                                        "p99": wrk["latency_ms"]["p99"]},
        "high_e2e_ms": summary_ms(t["seconds"] for t in done),
        "high_submit_ms": summary_ms(t["submit_seconds"] for t in done),
        # From the POST to the result stored, by the server's clock: the trip without the
        # wait for a poll to see the result.
        "high_stored_ms": summary_ms(stored[t["task_id"]].finished - t["began"]
                                     for t in done if t["task_id"] in stored),
        "redis_events_during_high": redis_events,
        "errors": [t["error"] for t in trips if "error" in t][:5],
    }


def run(ctx: Context) -> dict:
    if ctx.wrk is None:
        raise Skipped(ctx.wrk_note)
    results = {}
    for name, make_bodies in (
            ("tweets", lambda stack: ctx.bodies(stack, 1000, channel="email", priority="low")),
            ("long_emails", lambda stack: long_emails(ctx, stack))):
        backlog = results[name] = {}
        for stack in ctx.stacks():
            backlog[stack.name] = run_stack(ctx, stack, make_bodies(stack), name)
            logger.info("priority (%s): %s high p99 %s ms", name, stack.name,
                        backlog[stack.name]["high_e2e_ms"]["p99_ms"])
        if "project" in backlog and "peer" in backlog:
            backlog["p99_ratio"] = ratio(backlog["project"]["high_e2e_ms"]["p99_ms"],
                                         backlog["peer"]["high_e2e_ms"]["p99_ms"])
    return results
