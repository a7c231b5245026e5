"""Celery settings, read from the environment through ``settings``.

Celery only carries work here: the task registry in Redis is the truth about a task, so no
result backend is configured (``GET /task/{id}`` never sees Celery's PENDING).
"""
import settings
from tasks.queues import CHANNELS, KOMBU_PRIORITY_STEPS

_config = settings.load()

broker_url = _config["REDIS_URL"]
# At start-up, wait for Redis for as long as it takes. Once connected, a lost connection
# ends the worker (exit code 1) and the process manager starts a fresh one, which then
# waits at start-up: with kombu 5.7 a worker that reconnects in place sometimes stops
# consuming, or dies on "Unrecoverable error" (tests/test_faults.py reproduces both).
broker_connection_retry_on_startup = True
broker_connection_retry = False
broker_connection_max_retries = None

# kombu's Redis transport keeps a list per priority step; 0 is served first. Steps must stay
# kombu's defaults: Flower sums queue lengths over exactly these suffixes.
#
# kombu's ack emulation (a copy of each message taken in Redis's "unacked" hash, restored
# after a visibility timeout) is off: it cost two Redis transactions per message in the
# worker's main process, 29% of that process's time under single-message load. The registry
# already brings back what a dead worker held, sooner: its requeue sweep (workers.reaper)
# requeues a task still processing REQUEUE_AFTER_SECONDS after it started, or still waiting
# while its list moved past it. A killed pool process's message still goes back at once
# (task_reject_on_worker_lost, from the worker's memory), and a warm shutdown puts back
# the messages in hand. The webhook app turns it on again (tasks.webhooks.celery_app).
broker_transport_options = {
    "priority_steps": list(KOMBU_PRIORITY_STEPS),
    "queue_order_strategy": "priority",
    "ack_emulation": False,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 25,
    "retry_on_timeout": True,
}

task_default_queue = CHANNELS[0]
task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None

# Acknowledge after the task ran, so a worker that dies mid-task does not lose it; a pool
# process killed mid-task sends its message back to the queue. The registry counts the
# attempts and fails a task after MAX_ATTEMPTS, so a poison message cannot loop forever.
task_acks_late = True
task_reject_on_worker_lost = True
# Fetch a message only when a pool process is free, so a busy worker never sits on a
# high-priority message while it works through lower ones.
worker_prefetch_multiplier = 1
worker_disable_prefetch = True
# Tasks in hand when the connection drops cannot be acknowledged any more; stop them, and
# let redelivery (or the requeue sweep) run them again.
worker_cancel_long_running_tasks_on_connection_loss = True

task_soft_time_limit = _config["TASK_SOFT_TIME_LIMIT_SECONDS"]
task_time_limit = _config["TASK_TIME_LIMIT_SECONDS"]
# The requeue sweep takes a task processing longer than REQUEUE_AFTER for one whose worker died.
if _config["REQUEUE_AFTER_SECONDS"] <= task_time_limit:
    raise ValueError("REQUEUE_AFTER_SECONDS must exceed TASK_TIME_LIMIT_SECONDS")
worker_max_tasks_per_child = _config["WORKER_MAX_TASKS_PER_CHILD"]

# Bounded publishing when Redis is away: the API answers 503 rather than hang.
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                             "interval_max": 0.5}

# Celery's task events feed Flower's Tasks page only; the platform's own feeds, metrics and
# worker state come from the registry and heartbeats. Each event is a Redis round trip from
# the worker's main process: about 40% of its time per message when they are on.
worker_send_task_events = _config["WORKER_TASK_EVENTS"]
task_send_sent_event = False
