"""``python -m bench.task_search``: time ``GET /tasks`` queries over 100,000 stored tasks.

Starts a private Redis (configured as ``make run``'s), stores the tasks through the
registry's accept script in batches of 1,000 (not over HTTP), moves them through the states
a day of traffic leaves (most completed, some failed, cancelled, processing or waiting),
then times each typical query through the Flask app (test client: the route, the script
and the JSON, no network) and prints p50/p99 per query.
"""
import argparse
import json
import logging
import random
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from bench.stats import summary_ms
from tasks.connections import redis_now
from tasks.registry import NewTask, new_task_id
from tasks.task_search import TaskQuery
from workers import embedded_redis

OPERATOR_TOKEN = "bench-operator"  # noqa: S105
CHANNEL_TOKEN = "bench-channel"  # noqa: S105
BATCH = 1000
CUSTOMERS = 10_000
CHANNEL_MIX = {"chat": 0.6, "email": 0.25, "voice": 0.15}
PRIORITY_MIX = {"high": 0.1, "normal": 0.7, "low": 0.2}
SENTIMENTS = ("positive", "neutral", "negative")


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick(mix: dict, rng: random.Random) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def load(app, count: int, rng: random.Random) -> list[float]:
    """Store ``count`` tasks and move them through their states; returns each batch's time."""
    registry, client = app.extensions["registry"], app.extensions["redis"]
    owner = channel_owner()
    times = []
    for _ in range(count // BATCH):
        tasks = []
        for _ in range(BATCH):
            fields = {"type": "sentiment_analysis", "owner": owner,
                      "text": "The agent was helpful but the wait was long. " * rng.randint(1, 4)}
            if rng.random() < 0.9:
                fields["customer_id"] = f"CUST{rng.randrange(CUSTOMERS):05d}"
            tasks.append(NewTask(new_task_id(), pick(CHANNEL_MIX, rng),
                                 pick(PRIORITY_MIX, rng), fields))
        times.append(redis_now(client))  # the batch is accepted at or after this
        registry.accept(tasks, [("bench:nowhere", "m")], [0] * BATCH)
        ids = [task.task_id for task in tasks]
        # 90% completed, 2% failed, 1% cancelled, 2% processing, 5% still waiting
        claimed = ids[:920] + ids[930:950]
        for start in range(0, len(claimed), 100):
            registry.claim(claimed[start:start + 100], "bench-worker")
        registry.complete({task_id: {"sentiment": rng.choice(SENTIMENTS), "confidence": 0.5}
                           for task_id in ids[:900]})
        for task_id in ids[900:920]:
            registry.fail(task_id, "ANALYSIS_FAILED", "bench")
        for task_id in ids[920:930]:
            registry.cancel(task_id)
    return times


def channel_owner() -> str:
    from app.auth import authenticate, known_digests
    return authenticate(f"Bearer {CHANNEL_TOKEN}",
                        known_digests([CHANNEL_TOKEN], [OPERATOR_TOKEN])).id


def queries(accept_times: list[float], rng: random.Random) -> dict:
    """The typical queries, each a function returning a fresh query string."""
    from datetime import UTC, datetime

    def iso(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")

    quarter, three_quarters = (accept_times[len(accept_times) // 4],
                               accept_times[3 * len(accept_times) // 4])
    return {
        "no filter": lambda: "",
        "status=failed": lambda: "status=failed",
        "status=queued&channel=email": lambda: "status=queued&channel=email",
        "customer_id=X": lambda: f"customer_id=CUST{rng.randrange(CUSTOMERS):05d}",
        "channel=voice&priority=high": lambda: "channel=voice&priority=high",
        "since..until (middle half)": lambda: f"since={iso(quarter)}&until={iso(three_quarters)}",
        "status=cancelled&channel=voice (rare: budget)":
            lambda: "status=cancelled&channel=voice",
    }


def time_queries(app, named: dict, repeats: int) -> dict:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    search = app.extensions["task_search"]
    results = {}
    for name, make in named.items():
        durations, returned, scanned, continued = [], [], [], 0
        for _ in range(repeats):
            query = make()
            began = time.perf_counter()
            response = client.get(f"/tasks?limit=50&{query}", headers=headers)
            durations.append(time.perf_counter() - began)
            body = response.get_json()
            assert response.status_code == 200, body
            returned.append(len(body["tasks"]))
            continued += body["next_cursor"] is not None
        page = search.search(TaskQuery(**_filters(make()), limit=50))
        scanned.append(page.scanned)
        results[name] = {**summary_ms(durations), "tasks_per_page": round(
            sum(returned) / len(returned), 1), "ids_read": scanned[0],
            "with_next_cursor": f"{continued}/{repeats}"}
    # Paging deep: 40 pages of 50 following the cursor.
    durations, cursor = [], None
    for _ in range(40):
        began = time.perf_counter()
        body = client.get("/tasks?limit=50" + (f"&cursor={cursor}" if cursor else ""),
                          headers=headers).get_json()
        durations.append(time.perf_counter() - began)
        cursor = body["next_cursor"]
    results["no filter, pages 1..40 by cursor"] = {**summary_ms(durations),
                                                   "tasks_per_page": 50.0, "ids_read": 50,
                                                   "with_next_cursor": "40/40"}
    return results


def _filters(query: str) -> dict:
    from datetime import datetime
    args = dict(part.split("=", 1) for part in query.split("&") if part)
    for bound in ("since", "until"):
        if bound in args:
            args[bound] = datetime.fromisoformat(args[bound]).timestamp()
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.task_search", description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    # The app's metrics thread outlives the Redis stopped at the end; its warning is noise.
    logging.getLogger("tasks.api_metrics").setLevel(logging.ERROR)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = subprocess.Popen(embedded_redis.argv(port, Path(directory)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            from app import create_app
            app = create_app({"TESTING": True, "REDIS_URL": embedded_redis.url(port),
                              "API_TOKENS": (CHANNEL_TOKEN,),
                              "OPERATOR_TOKENS": (OPERATOR_TOKEN,), "RATE_LIMIT": "off"})
            began = time.perf_counter()
            accept_times = load(app, args.tasks, rng)
            loaded = time.perf_counter() - began
            memory = client.info("memory")["used_memory"]
            results = time_queries(app, queries(accept_times, rng), args.repeats)
        finally:
            server.terminate()
            server.wait(10)
    print(f"{args.tasks} tasks stored and moved through their states in {loaded:.1f}s; "
          f"Redis used {memory / 2**20:.0f} MiB; TASK_SEARCH_SCAN_LIMIT "
          f"{app.config['TASK_SEARCH_SCAN_LIMIT']}; limit=50; {args.repeats} requests each\n")
    print("| query | p50 ms | p99 ms | tasks per page | ids read | pages with next_cursor |")
    print("|---|---|---|---|---|---|")
    for name, figures in results.items():
        print(f"| `{name}` | {figures['p50_ms']} | {figures['p99_ms']} | "
              f"{figures['tasks_per_page']} | {figures['ids_read']} | "
              f"{figures['with_next_cursor']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
