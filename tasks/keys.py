"""Every Redis key the platform writes, in one place, under one prefix.

Per-task keys expire (``TASK_TTL_SECONDS`` after their last change). The long-lived keys are
listed in the README with the reason each has no TTL.
"""
PREFIX = "sp:"

TASK = PREFIX + "task:%s"  # hash: one task's state, text and result; expires
# sorted set per channel and priority: ids waiting, scored by accept time; long-lived
QUEUED = PREFIX + "queued:%s:%s"
EVENTS = PREFIX + "events"  # stream of task state changes; capped by MAXLEN, not by TTL
METRICS = PREFIX + "metrics:%d"  # hash per time bucket of counters; expires
DEAD = PREFIX + "dead"  # sorted set of failed task ids by failure time; pruned as tasks expire
PROCESSING = PREFIX + "processing"  # sorted set of ids being processed, by start time; long-lived
IDEMPOTENCY = PREFIX + "idem:%s:%s"  # token id and Idempotency-Key -> task id; expires
# hash "channel:priority" -> accept time of the newest task claimed from that list; long-lived
CLAIMED_UPTO = PREFIX + "claimed-upto"
PAUSED = PREFIX + "paused"  # set of paused channels, which workers stop consuming; long-lived
PAUSED_PRIORITIES = PREFIX + "paused_priorities"  # set of paused priorities; long-lived
# list per channel and priority: the Celery messages of a paused priority, in kombu's order,
# set aside where no worker reads them; emptied back into the queue on resume
PARKED = PREFIX + "parked:%s:%s"
REAPER_LOCK = PREFIX + "lock:reaper"  # one requeue sweep at a time across workers; expires
# sorted set per customer: their recent completed messages by completion time; bounded to
# CUSTOMER_HISTORY_SIZE entries, expires CUSTOMER_HISTORY_TTL_SECONDS after the last write
CUSTOMER_HISTORY = PREFIX + "customer:%s:history"
# sorted set of every task id by accept time, for GET /tasks; long-lived, entries older than
# TASK_TTL_SECONDS trimmed by each accept
TASK_INDEX = PREFIX + "tasks:created"
# sorted set per customer of its task ids by accept time, for GET /tasks and erasure; expires
CUSTOMER_TASKS = PREFIX + "customer:%s:tasks"
# string per task a request waits for (GET /task/{id}?wait=); expires with the wait
AWAITED = PREFIX + "awaited:%s"
# pub/sub channel (not a key) per Redis database: the id of each awaited task that finished.
# Channels are server-wide, not per database; the number keeps deployments that share one
# Redis under different databases from waking each other (kombu prefixes its fanout
# channels with the database for the same reason).
TASK_FINISHED = PREFIX + "task-finished:%d"

# Webhooks (tasks.webhooks). Long-lived ones are listed in the README.
WEBHOOKS = PREFIX + "webhooks"  # hash: subscription id -> its JSON; long-lived
WEBHOOK_EVENTS = PREFIX + "webhook_events"  # set: event types some subscription wants; long-lived
WEBHOOK_OUTBOX = PREFIX + "webhook_outbox"  # stream of events to deliver; capped by MAXLEN
WEBHOOK_OUTBOX_GROUP = "dispatchers"  # the outbox's consumer group (not a key)
WEBHOOK_DELIVERIES = PREFIX + "webhook_deliveries:%s"  # list: a subscription's attempts; expires
TASK_DELIVERIES = PREFIX + "task_deliveries:%s"  # list: a task's callback attempts; expires
CALLBACK_SECRETS = PREFIX + "callback_secrets"  # hash: token id -> callback secret; long-lived
WEBHOOK_IN_FLIGHT = PREFIX + "webhook_in_flight:%s"  # zset: attempts running per host; expires


def task(task_id: str) -> str:
    return TASK % task_id


def awaited(task_id: str) -> str:
    return AWAITED % task_id


def task_finished(client) -> str:
    """The task-finished channel of ``client``'s database."""
    return TASK_FINISHED % client.connection_pool.connection_kwargs.get("db", 0)


def queued(channel: str, priority: str) -> str:
    return QUEUED % (channel, priority)


def webhook_deliveries(webhook_id: str) -> str:
    return WEBHOOK_DELIVERIES % webhook_id


def task_deliveries(task_id: str) -> str:
    return TASK_DELIVERIES % task_id


def webhook_in_flight(host: str) -> str:
    return WEBHOOK_IN_FLIGHT % host


def parked(channel: str, priority: str) -> str:
    return PARKED % (channel, priority)


def customer_tasks(customer_id: str) -> str:
    return CUSTOMER_TASKS % customer_id


def metrics(bucket: int) -> str:
    return METRICS % bucket


def idempotency(owner: str, key: str) -> str:
    return IDEMPOTENCY % (owner, key)


def customer_history(customer_id: str) -> str:
    """Every recent message of one customer: erasing the customer deletes this one key."""
    return CUSTOMER_HISTORY % customer_id


# Operations (workers, agents, API metrics). Long-lived ones are listed in the README.
WORKER = PREFIX + "worker:%s"  # hash per Celery node: its last heartbeat; expires
WORKERS = PREFIX + "workers"  # sorted set of node names by last heartbeat; pruned
WORKER_EVENTS = PREFIX + "worker_events"  # stream of worker heartbeats; capped by MAXLEN
WORKER_ID_CLAIM = PREFIX + "worker_id:%s"  # string: an id held while its worker starts; expires
AGENT = PREFIX + "agent:%s"  # hash per host agent: its heartbeat; expires
AGENTS = PREFIX + "agents"  # sorted set of agent hosts by last heartbeat; pruned
AGENT_COMMANDS = PREFIX + "agent_commands:%s"  # list of commands for one host's agent; expires
AGENT_REPLY = PREFIX + "agent_reply:%s"  # list of an agent's replies to one command; expires
API_METRICS = PREFIX + "api_metrics:%d"  # hash per time bucket of API request counters; expires
# flask-limiter's counters per token and window (keys LIMITS:LIMITER/sp:rate/...); expire
RATE_LIMIT = PREFIX + "rate"
AUTH_FAILURES = PREFIX + "authfail"  # wrong tokens per client address and window; expire
# string per dashboard session ended by logout, until its cookie would have expired; expires
ENDED_SESSION = PREFIX + "session_ended:%s"


def worker(node: str) -> str:
    return WORKER % node


def worker_id_claim(worker_id: int) -> str:
    return WORKER_ID_CLAIM % worker_id


def agent(host: str) -> str:
    return AGENT % host


def agent_commands(host: str) -> str:
    return AGENT_COMMANDS % host


def agent_reply(command_id: str) -> str:
    return AGENT_REPLY % command_id


def api_metrics(bucket: int) -> str:
    return API_METRICS % bucket


def ended_session(session_id: str) -> str:
    return ENDED_SESSION % session_id
