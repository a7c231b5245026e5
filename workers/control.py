"""Start and stop workers through the per-host agents (``workers.agent``), from the API.

The API never parents a worker: it pushes a command onto the chosen agent's list in Redis
and waits, a bounded time, for the agent's replies on a list of the command's own. The agent
acknowledges within ``ACK_TIMEOUT_SECONDS`` or counts as gone; its final reply comes once the
worker's first heartbeat is in Redis (started) or its process has exited (stopped).
"""
import json
import secrets
import time
from dataclasses import dataclass, field

import redis

from tasks import keys
from tasks.connections import redis_now, seconds
from workers.heartbeat import OFFLINE_AFTER_BEATS
from workers.state import WorkerState, ids_in_use

ACK_TIMEOUT_SECONDS = 3.0
REPLY_TTL_SECONDS = 120
# BLPOP waits in slices shorter than the client's socket timeout (tasks.connections).
WAIT_SLICE_SECONDS = 1.0
START, STOP = "start", "stop"


class AgentUnavailable(Exception):
    """No live agent can take the command, or the chosen one did not answer."""


class WorkerIdTaken(Exception):
    """The requested worker id belongs to a worker that runs or is starting."""


@dataclass(frozen=True)
class StartRequest:
    """What ``POST /workers`` asks for, validated."""

    worker_id: int | None
    max_tasks: int | None
    timeout: float | None
    concurrency: int | None
    queues: tuple[str, ...]
    host: str | None = None
    priorities: tuple[str, ...] = ()


@dataclass
class Outcome:
    """The agent's final word on a command."""

    status: str  # started, starting, stopped, stopping, failed, exists, unknown
    worker_id: int
    node: str
    host: str
    details: dict = field(default_factory=dict)


def live_agents(client: redis.Redis) -> list[dict]:
    """Agents whose heartbeat is fresh, least busy first."""
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.zrange(keys.AGENTS, 0, -1)
        clock, hosts = pipe.execute()
    now = seconds(clock)
    with client.pipeline(transaction=False) as pipe:
        for host in hosts:
            pipe.hgetall(keys.agent(host))
        agents = [a for a in pipe.execute() if a and _fresh(a, now)]
    return sorted(agents, key=lambda a: (len(json.loads(a.get("workers", "[]"))), a["host"]))


def start_worker(client: redis.Redis, request: StartRequest, workers: list[WorkerState],
                 wait_seconds: float) -> Outcome:
    """Reserve an id, have an agent start the worker, and wait for the outcome."""
    agents = live_agents(client)
    if request.host is not None:
        agents = [a for a in agents if a["host"] == request.host]
    if not agents:
        raise AgentUnavailable("no worker agent is running" + (
            f" on host {request.host}" if request.host else ""))
    host = agents[0]["host"]
    worker_id = reserve_id(client, request.worker_id, ids_in_use(workers), wait_seconds)
    command = {"action": START, "worker_id": worker_id, "max_tasks": request.max_tasks,
               "timeout": request.timeout, "concurrency": request.concurrency,
               "queues": list(request.queues), "priorities": list(request.priorities)}
    try:
        reply = _send(client, host, command, wait_seconds)
    except BaseException:
        client.delete(keys.worker_id_claim(worker_id))
        raise
    if reply["status"] != "starting":  # a starting worker keeps its id until it beats
        client.delete(keys.worker_id_claim(worker_id))
    return Outcome(reply["status"], worker_id, reply.get("node", ""), host,
                   reply.get("details", {}))


def stop_worker(client: redis.Redis, worker: WorkerState, wait_seconds: float) -> Outcome:
    """Have the agent on the worker's host stop it gracefully (SIGTERM: warm shutdown)."""
    if not any(a["host"] == worker.host for a in live_agents(client)):
        raise AgentUnavailable(f"no worker agent is running on host {worker.host}")
    command = {"action": STOP, "worker_id": worker.platform_id, "node": worker.node,
               "pid": worker.pid}
    reply = _send(client, worker.host, command, wait_seconds)
    return Outcome(reply["status"], worker.platform_id, worker.node, worker.host,
                   reply.get("details", {}))


def reserve_id(client: redis.Redis, requested: int | None, in_use: set[int],
               hold_seconds: float) -> int:
    """Hold ``requested``, or the lowest free id, while its worker starts."""
    ttl = int(hold_seconds + ACK_TIMEOUT_SECONDS + 10)
    if requested is not None:
        if requested in in_use or not client.set(keys.worker_id_claim(requested), "1",
                                                 nx=True, ex=ttl):
            raise WorkerIdTaken(requested)
        return requested
    candidate = 0
    while True:
        if candidate not in in_use and client.set(keys.worker_id_claim(candidate), "1",
                                                  nx=True, ex=ttl):
            return candidate
        candidate += 1


def _send(client: redis.Redis, host: str, command: dict, wait_seconds: float) -> dict:
    command_id = secrets.token_hex(8)
    reply_key = keys.agent_reply(command_id)
    # A command the agent picks up after the API gave up must not run: it carries a deadline.
    expires_at = redis_now(client) + ACK_TIMEOUT_SECONDS
    payload = json.dumps({**command, "command_id": command_id, "expires_at": expires_at})
    with client.pipeline(transaction=False) as pipe:
        pipe.rpush(keys.agent_commands(host), payload)
        pipe.expire(keys.agent_commands(host), REPLY_TTL_SECONDS)
        pipe.execute()
    ack = _pop(client, reply_key, ACK_TIMEOUT_SECONDS)
    if ack is None:
        raise AgentUnavailable(f"the worker agent on host {host} did not answer")
    final = _pop(client, reply_key, wait_seconds + ACK_TIMEOUT_SECONDS)
    if final is None:
        raise AgentUnavailable(f"the worker agent on host {host} stopped answering")
    return final


def _pop(client: redis.Redis, key: str, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        popped = client.blpop([key], timeout=max(min(left, WAIT_SLICE_SECONDS), 0.01))
        if popped is not None:
            return json.loads(popped[1])
    return None


def _fresh(agent: dict, now: float) -> bool:
    interval = float(agent.get("heartbeat_seconds", 2))
    return now - float(agent.get("last_seen", 0)) <= OFFLINE_AFTER_BEATS * interval
