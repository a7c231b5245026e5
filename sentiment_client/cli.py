"""``sentiment``: the platform's API from a terminal.

Exit codes: 0 done; 1 the API answered with an error, a task failed or was cancelled, or
``health`` found the platform degraded or unhealthy; 2 wrong usage; 3 the API could not be
reached; 4 ``--wait`` ran out of time before every task finished; 130 interrupted.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import requests
from tqdm import tqdm

from sentiment_client.client import DEFAULT_URL, Client
from sentiment_client.errors import APIError, WaitTimeout

OK, FAILED, USAGE, UNREACHABLE, TIMED_OUT, INTERRUPTED = 0, 1, 2, 3, 4, 130
CHANNELS = ("chat", "voice", "email")
PRIORITIES = ("high", "normal", "low")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="sentiment", description="Submit messages to the sentiment platform and follow them.",
        epilog="Exit codes: 0 done, 1 API error or failed task, 2 usage, 3 unreachable, "
               "4 wait timed out.")
    main.add_argument("--url", default=os.environ.get("SENTIMENT_API_URL", DEFAULT_URL),
                      help="API base URL (env SENTIMENT_API_URL; default %(default)s)")
    main.add_argument("--token", default=os.environ.get("SENTIMENT_API_TOKEN"),
                      help="bearer token (env SENTIMENT_API_TOKEN)")
    main.add_argument("--attempts", type=int, default=6, metavar="N",
                      help="tries per request before giving up (default %(default)s)")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the API's JSON answers")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", parents=[output],
                                 help="submit a message, or a file of messages")
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="the message text")
    source.add_argument("--file", type=Path,
                        help="one message per line (.txt) or one JSON object per line (.jsonl)")
    submit.add_argument("--channel", choices=CHANNELS, default="chat")
    submit.add_argument("--priority", choices=PRIORITIES)
    submit.add_argument("--customer-id")
    submit.add_argument("--task-timeout", type=float, metavar="SECONDS",
                        help="fail a task no worker started within SECONDS")
    submit.add_argument("--wait", action="store_true", help="wait for the results")
    submit.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="how long --wait waits (default %(default)s)")

    show = commands.add_parser("show", parents=[output], help="show a task and its result")
    show.add_argument("task_id")
    commands.add_parser("workers", parents=[output], help="list the workers")
    commands.add_parser("health", parents=[output], help="show the platform's health")
    tail = commands.add_parser("tail", parents=[output],
                               help="follow the task update feed (the token's own tasks)")
    tail.add_argument("--since", metavar="EVENT_ID", help="replay the events after this id")
    tail.add_argument("--count", type=int, help="stop after this many events")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.token:
        print("sentiment: no token: set SENTIMENT_API_TOKEN or pass --token", file=sys.stderr)
        return USAGE
    client = Client(args.url, args.token, max_attempts=max(args.attempts, 1))
    try:
        return COMMANDS[args.command](client, args)
    except APIError as exc:
        print(f"sentiment: {exc.status} {exc.code}: {exc.message}"
              + (f" {json.dumps(exc.details)}" if exc.details else "")
              + (f" (request id {exc.request_id})" if exc.request_id else ""), file=sys.stderr)
        return FAILED
    except WaitTimeout as exc:
        print(f"sentiment: {exc}", file=sys.stderr)
        return TIMED_OUT
    except (requests.ConnectionError, requests.Timeout, OSError) as exc:
        print(f"sentiment: cannot reach {args.url}: {exc}", file=sys.stderr)
        return UNREACHABLE
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        client.close()


def submit(client: Client, args) -> int:
    if args.file is not None:
        return submit_file(client, args)
    answer = client.submit(args.text, args.channel, args.priority, customer_id=args.customer_id,
                           timeout=args.task_timeout)
    if not args.wait:
        print(json.dumps(answer) if args.json else answer["task_id"])
        return OK
    task = client.wait([answer["task_id"]], args.timeout)[answer["task_id"]]
    print(json.dumps(task) if args.json else describe(task))
    return OK if task["status"] == "completed" else FAILED


def submit_file(client: Client, args) -> int:
    """Submit every message of a file in batches; one line per message on stdout."""
    try:
        numbered = read_messages(args.file, args)
    except (OSError, ValueError) as exc:
        print(f"sentiment: {args.file}: {exc}", file=sys.stderr)
        return USAGE
    with tqdm(total=len(numbered), desc="submitted", unit="msg", file=sys.stderr) as bar:
        answers = client.submit_many([message for _, message in numbered],
                                     on_progress=bar.update)
    accepted = [a["task_id"] for a in answers if "task_id" in a]
    refused = len(answers) - len(accepted)
    results = {}
    if args.wait and accepted:
        with tqdm(total=len(accepted), desc="finished", unit="msg", file=sys.stderr) as bar:
            results = client.wait(accepted, args.timeout, on_finished=lambda _: bar.update())
    for (line, _), answer in zip(numbered, answers, strict=True):
        answer = results.get(answer.get("task_id"), answer)
        if args.json:
            print(json.dumps({"line": line, **answer}))
        elif "error" in answer and "task_id" not in answer:
            error = answer["error"]
            print(f"line {line}: refused {error['code']}: {error['message']} "
                  f"{json.dumps(error.get('details') or {})}")
        else:
            print(f"line {line}: {describe(answer)}")
    failed = sum(1 for task in results.values() if task["status"] != "completed")
    print(f"{len(accepted)} accepted, {refused} refused"
          + (f", {len(results) - failed} completed, {failed} failed" if args.wait else ""),
          file=sys.stderr)
    return FAILED if refused or failed else OK


def read_messages(path: Path, args) -> list[tuple[int, dict]]:
    """The messages of a .txt (one per line) or .jsonl file, the flags filling what lacks.

    Each comes with its line number in the file; blank lines are skipped.
    """
    defaults = {"channel": args.channel, "priority": args.priority,
                "customer_id": args.customer_id, "timeout": args.task_timeout}
    messages = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    item = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc})") from None
                if not isinstance(item, dict) or "text" not in item:
                    raise ValueError(f'line {number}: expected an object with "text"')
                messages.append((number, {**defaults, **item}))
            else:
                messages.append((number, {**defaults, "text": line.rstrip("\r\n")}))
    if not messages:
        raise ValueError("no messages")
    return messages


def show(client: Client, args) -> int:
    task = client.get(args.task_id)
    print(json.dumps(task) if args.json else json.dumps(task, indent=2))
    return OK


def workers(client: Client, args) -> int:
    answer = client.workers()
    if args.json:
        print(json.dumps(answer))
        return OK
    print(f"{answer['total_workers']} workers: {answer['active_workers']} active, "
          f"{answer.get('idle_workers', 0)} idle, {answer.get('offline_workers', 0)} offline")
    print(f"{'ID':<24} {'STATUS':<8} {'LOAD':>5} {'PROCESSED':>9}  {'HOST':<20} QUEUES")
    for worker in answer["workers"]:
        print(f"{str(worker['id']):<24} {worker['status']:<8} "
              f"{worker.get('current_load', 0):>5.2f} {worker.get('tasks_processed', 0):>9}  "
              f"{str(worker.get('host') or ''):<20} {','.join(worker.get('queues') or [])}")
    return OK


def health(client: Client, args) -> int:
    answer = client.health()
    if args.json:
        print(json.dumps(answer))
    else:
        components = answer.get("components", {})
        workers_seen = components.get("workers") or {}
        tasks = (components.get("queues") or {}).get("tasks") or {}
        print(f"status: {answer['status']}")
        print(f"redis: {(components.get('redis') or {}).get('status')}")
        print(f"workers: {workers_seen.get('online')} online of {workers_seen.get('total')}")
        print(f"queued: {tasks.get('length')}, processing: {tasks.get('processing')}")
        for reason in answer.get("reasons") or []:
            print(f"reason: {reason}")
    return OK if answer["status"] == "healthy" else FAILED


def tail(client: Client, args) -> int:
    seen = 0
    with client.updates(args.since) as feed:
        for event in feed:
            print(json.dumps(event) if args.json else describe_event(event), flush=True)
            if event.get("type") != "gap":
                seen += 1
                if args.count and seen >= args.count:
                    return OK
    return OK


def describe(task: dict) -> str:
    """One line for a task: its id, status and sentiment or error."""
    line = f"{task['task_id']} {task['status']}"
    if task.get("result"):
        result = task["result"]
        line += f" {result['sentiment']} (confidence {result['confidence']:.2f})"
        if result.get("escalate"):
            rules = ", ".join(r["rule"] for r in result.get("escalation_reasons") or [])
            line += f" escalated: {rules}"
    elif task.get("error"):
        line += f" {task['error'].get('code')}: {task['error'].get('message')}"
    return line


def describe_event(event: dict) -> str:
    if event.get("type") == "gap":
        if event.get("first_id") is None:
            return "gap: reconnected before any event; those in between are not replayed"
        return f"gap: the feed keeps events from {event.get('first_id')} on; older ones are gone"
    where = f"{event.get('channel')}/{event.get('priority')}"
    if event.get("type") == "escalation":
        rules = ", ".join(r["rule"] for r in event.get("reasons") or [])
        what = f"{event.get('task_id')} escalation {event.get('sentiment')} " \
               f"(compound {event.get('compound')}): {rules}"
    else:
        what = describe(event)
    return f"{event.get('at')} {event.get('id')} {where} {what}"


COMMANDS = {"submit": submit, "show": show, "workers": workers, "health": health, "tail": tail}

if __name__ == "__main__":
    sys.exit(main())
