"""Celery settings, read from the environment through ``settings``.

Celery only carries work here: the task registry in Redis is the truth about a task, so no
result backend is configured (``GET /task/{id}`` never sees Celery's PENDING).
"""
import settings
from tasks.queues import CHANNELS

broker_url = settings.get("REDIS_URL")
broker_connection_retry_on_startup = True
broker_connection_max_retries = None  # keep reconnecting for as long as Redis is away

# kombu's Redis transport keeps a list per priority step; 0 is served first. Steps must stay
# kombu's defaults: Flower sums queue lengths over exactly these suffixes.
broker_transport_options = {
    "priority_steps": [0, 3, 6, 9],
    "queue_order_strategy": "priority",
    # A message a worker took but did not acknowledge returns to its queue after this long.
    "visibility_timeout": 3600,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "health_check_interval": 25,
}

task_default_queue = CHANNELS[0]
task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None

# Acknowledge after the task ran, so a worker that dies mid-task does not lose it, and fetch a
# message only when a pool process is free, so a busy worker never sits on a high-priority
# message while it works through lower ones.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_disable_prefetch = True

worker_send_task_events = True  # Flower shows live task activity from these
task_send_sent_event = False
