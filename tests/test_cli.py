"""The ``sentiment`` command, run as a user runs it, against gunicorn and a real worker."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CHANNEL_TOKEN, OPERATOR_TOKEN, OTHER_CHANNEL_TOKEN, free_port, wait_until
from tasks.analysis import polarity_scores

SENTIMENT = Path(sys.executable).parent / "sentiment"


@pytest.fixture
def api(api_server, worker, redis_client):
    return api_server.url


def sentiment(api: str | None, *args: str, token: str | None = CHANNEL_TOKEN,
              timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "SENTIMENT_API_URL": api or ""}
    if token:
        env["SENTIMENT_API_TOKEN"] = token
    return subprocess.run([str(SENTIMENT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_submit_and_wait_prints_the_result(api):
    run = sentiment(api, "submit", "Great customer service experience!", "--channel", "chat",
                    "--priority", "high", "--wait")

    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"task_\w+ completed positive \(confidence 0\.\d\d\)\n", run.stdout)


def test_submit_prints_the_task_id_and_show_prints_the_task(api):
    submitted = sentiment(api, "submit", "The wait was far too long", "--channel", "voice",
                          "--customer-id", "CUST9")
    task_id = submitted.stdout.strip()
    assert submitted.returncode == 0 and task_id.startswith("task_"), submitted.stderr
    sentiment(api, "submit", "x", "--wait")  # the worker serves in order: task_id is done too

    shown = sentiment(api, "show", task_id, "--json")

    assert shown.returncode == 0, shown.stderr
    task = json.loads(shown.stdout)
    assert (task["task_id"], task["channel"], task["customer_id"]) == (task_id, "voice", "CUST9")
    assert task["status"] == "completed"
    assert task["result"]["scores"] == polarity_scores("The wait was far too long")


def test_an_api_error_is_printed_with_its_code_and_exits_1(api):
    run = sentiment(api, "show", "task_unknown")

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("sentiment: 404 TASK_NOT_FOUND: ")
    assert re.search(r"\(request id [0-9a-f]{32}\)$", run.stderr.rstrip())


def test_workers_lists_the_session_worker(api, worker):
    def listed():
        run = sentiment(api, "workers")
        return run if run.returncode == 0 and "test-session-worker@" in run.stdout else None

    run = wait_until(listed, 30, interval=0.5, message="the worker in `sentiment workers`")
    header, columns, *rows = run.stdout.splitlines()
    assert re.match(r"\d+ workers: \d+ active, \d+ idle, \d+ offline", header)
    assert columns.split() == ["ID", "STATUS", "LOAD", "PROCESSED", "HOST", "QUEUES"]
    row = next(r for r in rows if r.startswith("test-session-worker@"))
    assert row.split()[1] in ("active", "idle")
    assert sorted(row.split()[-1].split(",")) == ["chat", "email", "voice"]


def test_health_exit_code_follows_the_status(api):
    run = sentiment(api, "health")

    status = re.match(r"status: (\w+)\n", run.stdout).group(1)
    assert "redis: up" in run.stdout
    assert run.returncode == (0 if status == "healthy" else 1), run.stdout


def test_submit_file_shows_progress_and_every_task_completes(api, tmp_path):
    texts = [f"Message {n}: {'thank you so much' if n % 3 else 'this is terrible'}"
             for n in range(40)]
    messages = tmp_path / "messages.txt"
    messages.write_text("\n".join(texts[:20]) + "\n\n" + "\n".join(texts[20:]) + "\n")

    run = sentiment(api, "submit", "--file", str(messages), "--channel", "email", "--wait",
                    "--json")

    assert run.returncode == 0, run.stderr
    assert "submitted: 100%" in run.stderr and "40/40" in run.stderr  # tqdm's bars
    assert "finished: 100%" in run.stderr
    assert run.stderr.rstrip().endswith("40 accepted, 0 refused, 40 completed, 0 failed")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    # Numbered by their line in the file; the blank line 21 is no message.
    assert [line["line"] for line in lines] == [*range(1, 21), *range(22, 42)]
    for text, line in zip(texts, lines, strict=True):
        assert line["status"] == "completed" and line["channel"] == "email"
        assert line["result"]["scores"] == polarity_scores(text)


def test_submit_jsonl_takes_fields_per_line_and_reports_refusals(api, tmp_path):
    messages = tmp_path / "messages.jsonl"
    messages.write_text(
        json.dumps({"text": "Lovely staff", "channel": "voice", "priority": "high"}) + "\n"
        + json.dumps({"text": "Slow reply", "customer_id": "C7"}) + "\n"
        + json.dumps({"text": "", "channel": "chat"}) + "\n")

    run = sentiment(api, "submit", "--file", str(messages), "--channel", "email", "--json")

    assert run.returncode == 1  # one message was refused
    first, second, third = (json.loads(line) for line in run.stdout.splitlines())
    assert first["status"] == second["status"] == "accepted"
    assert third["error"]["code"] == "INVALID_INPUT"
    assert run.stderr.rstrip().endswith("2 accepted, 1 refused")
    shown = json.loads(sentiment(api, "show", second["task_id"], "--json").stdout)
    assert (shown["channel"], shown["customer_id"]) == ("email", "C7")  # the flag filled in


def test_submit_file_prints_a_line_per_message_for_people(api, tmp_path):
    messages = tmp_path / "messages.txt"
    messages.write_text("I love this product\n" + "x" * 20001 + "\n")

    run = sentiment(api, "submit", "--file", str(messages), "--wait")

    assert run.returncode == 1
    first, second = run.stdout.splitlines()
    assert re.fullmatch(r"line 1: task_\w+ completed positive \(confidence 0\.\d\d\)", first)
    assert second.startswith("line 2: refused INVALID_INPUT: ") and "data.text" in second


def test_tail_follows_the_feed_live(api):
    tail = subprocess.Popen([str(SENTIMENT), "tail", "--count", "1"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"SENTIMENT_API_URL": api,
                                 "SENTIMENT_API_TOKEN": OPERATOR_TOKEN})
    submitted = []
    try:
        # It prints nothing until an event comes: submit until one reaches it.
        wait_until(lambda: submitted.append(
            sentiment(api, "submit", "Live!").stdout.strip()) or tail.poll() is not None,
            60, interval=0.5, message="`sentiment tail` to show an event")
        out, err = tail.communicate(timeout=10)
    finally:
        tail.kill()

    assert tail.returncode == 0, err
    at, event_id, where, task_id, status, *result = out.split()
    # The socket may open between a task's events: the first one it sees is any of them.
    assert where == "chat/normal" and task_id in submitted
    assert status in ("queued", "processing", "completed")
    assert re.fullmatch(r"\d+-\d+", event_id) and at.startswith("20")


def test_tail_replays_the_feed_since_an_event_id(api):
    task_id = sentiment(api, "submit", "Superb!", "--wait").stdout.split()[0]

    run = sentiment(api, "tail", "--since", "0", "--count", "3", "--json",
                    token=OPERATOR_TOKEN, timeout=60)

    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    task_events = [e for e in events if e["type"] == "task"]
    assert [(e["task_id"], e["status"]) for e in task_events] == [
        (task_id, "queued"), (task_id, "processing"), (task_id, "completed")]
    assert task_events[-1]["result"]["sentiment"] == "positive"


def test_tail_with_a_channel_token_shows_only_its_own_tasks(api):
    mine = sentiment(api, "submit", "Superb!", "--wait").stdout.split()[0]
    others = sentiment(api, "submit", "Dreadful!", "--wait", token=OTHER_CHANNEL_TOKEN)

    run = sentiment(api, "tail", "--since", "0", "--count", "3", "--json", timeout=60)

    assert others.returncode == 0 and run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(e["task_id"], e["status"]) for e in events if e["type"] == "task"] == [
        (mine, "queued"), (mine, "processing"), (mine, "completed")]


def test_exit_codes_for_usage_and_an_unreachable_api():
    unreachable = sentiment(f"http://127.0.0.1:{free_port()}", "--attempts", "1", "health")
    no_token = sentiment(None, "health", token=None)
    bad_flag = sentiment(None, "submit", "x", "--channel", "fax")

    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
    assert no_token.returncode == 2 and "SENTIMENT_API_TOKEN" in no_token.stderr
    assert bad_flag.returncode == 2 and "invalid choice: 'fax'" in bad_flag.stderr


def test_an_escalated_message_says_so_and_tail_shows_its_escalation(api):
    text = "This is the worst, most horrible and useless service. I hate it."
    assert polarity_scores(text)["compound"] <= -0.6
    submitted = sentiment(api, "submit", text, "--channel", "voice", "--wait")
    task_id = submitted.stdout.split()[0]

    run = sentiment(api, "tail", "--since", "0", "--count", "4", token=OPERATOR_TOKEN,
                    timeout=60)

    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.rstrip().endswith("escalated: strongly_negative_channel")
    *_, completed, escalation = run.stdout.splitlines()
    assert f"voice/normal {task_id} completed negative" in completed
    assert f"voice/normal {task_id} escalation negative (compound -0." in escalation
    assert escalation.endswith(": strongly_negative_channel")
