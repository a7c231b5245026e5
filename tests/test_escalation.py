"""Escalation: the rules on their own, then through gunicorn, the real worker and the feed."""
import json

import pytest
import redis as redis_py
import requests
from simple_websocket import Client
from test_analysis import POLITE_EMAIL

from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    make_app,
    receive_until,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys
from tasks.analysis import analyse, polarity_scores
from tasks.escalation import EscalationRules, rule_score
from tasks.registry_scripts import ESCALATION

# Texts whose sentiment a reader can check (compounds by VADER 3.3.2).
FURIOUS = "This is the worst service ever. I am furious!"  # -0.8439
MILDLY_ANNOYED = "The wait was a little annoying."  # -0.3415
STEADILY_WORSE = ("It was okay, I guess.",  # 0.2263
                  "The delivery was late.",  # 0.0
                  "I have been waiting for a week, this is really bad.")  # -0.5849


# --- the rules alone: Redis's Lua interpreter runs them, with no key touched ---------------

@pytest.fixture(scope="module")
def lua(redis_server):
    client = redis_py.Redis(port=redis_server.port, decode_responses=True)
    script = client.register_script(ESCALATION + """
local rules = cjson.decode(ARGV[1])
local reasons = escalation_reasons(rules, tonumber(ARGV[2]), ARGV[3], ARGV[4],
                                   cjson.decode(ARGV[5]))
return cjson.encode(reasons)
""")

    def reasons(score, channel="chat", priority="normal", previous=(), **changes):
        rules = EscalationRules.from_settings({**DEFAULTS, **changes})
        answer = json.loads(script(args=[json.dumps(rules.config()), repr(score), channel,
                                         priority, json.dumps(list(previous))]))
        return [reason["rule"] for reason in answer] if answer else []  # {} when none
    return reasons


DEFAULTS = {"ESCALATION_NEGATIVE_THRESHOLD": -0.6, "ESCALATION_PRIORITIES": ("high",),
            "ESCALATION_CHANNELS": ("voice",), "ESCALATION_WORSENING_MESSAGES": 3,
            "ESCALATION_WORSENING_MAX_COMPOUND": -0.05,
            "ESCALATION_WORSENING_WINDOW_SECONDS": 86400, "CUSTOMER_HISTORY_SIZE": 50,
            "CUSTOMER_HISTORY_TTL_SECONDS": 86400}


def test_strongly_negative_escalates_on_a_high_priority_or_a_voice_message(lua):
    assert lua(-0.84, priority="high") == ["strongly_negative_priority"]
    assert lua(-0.84, channel="voice", priority="low") == ["strongly_negative_channel"]
    assert lua(-0.84, channel="voice", priority="high") == [
        "strongly_negative_priority", "strongly_negative_channel"]
    assert lua(-0.6, priority="high") == ["strongly_negative_priority"]  # at the threshold


def test_mildly_negative_or_ordinary_messages_do_not_escalate(lua):
    assert lua(-0.59, priority="high") == []
    assert lua(-0.34, channel="email", priority="low") == []
    assert lua(-0.95, channel="email", priority="normal") == []  # neither rule's scope


def test_a_customer_whose_messages_keep_falling_escalates(lua):
    # previous: newest first, as the history is read
    assert lua(-0.58, previous=[0.0, 0.23]) == ["customer_worsening"]
    assert lua(-0.58, previous=[0.0, 0.23, 0.9]) == ["customer_worsening"]  # last 3 only


def test_worsening_needs_enough_messages_each_lower_and_a_negative_end(lua):
    assert lua(-0.58, previous=[0.0]) == []  # two messages only
    assert lua(-0.58, previous=[-0.58, 0.23]) == []  # not strictly lower
    assert lua(-0.58, previous=[0.0, -0.3]) == []  # the middle one rose
    assert lua(0.1, previous=[0.5, 0.9]) == []  # falling, but still positive
    assert lua(-0.58, previous=[0.0, 0.23], ESCALATION_WORSENING_MESSAGES=0) == []
    assert lua(-0.58, previous=[0.0], ESCALATION_WORSENING_MESSAGES=2) == [
        "customer_worsening"]


def test_settings_move_the_thresholds(lua):
    assert lua(-0.34, channel="email", priority="low", ESCALATION_NEGATIVE_THRESHOLD=-0.3,
               ESCALATION_PRIORITIES=("low",)) == ["strongly_negative_priority"]
    assert lua(-0.84, priority="high", ESCALATION_PRIORITIES=()) == []
    assert lua(-0.84, channel="email", ESCALATION_CHANNELS=("email",)) == [
        "strongly_negative_channel"]


def test_the_rule_score_is_the_document_score_and_unknown_texts_never_escalate():
    email = analyse(POLITE_EMAIL)  # VADER's compound of the whole block is +0.5983
    assert rule_score(email) == email["document_score"] < 0
    assert rule_score(analyse("Das ist ein sehr schlechter Service, die Lieferung kam nie "
                              "an.")) is None  # unknown: not English
    assert rule_score({"sentiment": "negative"}) is None


def test_rules_refuse_settings_that_cannot_work():
    with pytest.raises(ValueError, match="unknown"):
        EscalationRules.from_settings({**DEFAULTS, "ESCALATION_CHANNELS": ("fax",)})
    with pytest.raises(ValueError, match="at least 2"):
        EscalationRules.from_settings({**DEFAULTS, "ESCALATION_WORSENING_MESSAGES": 1})
    with pytest.raises(ValueError, match="CUSTOMER_HISTORY_SIZE"):
        EscalationRules.from_settings({**DEFAULTS, "CUSTOMER_HISTORY_SIZE": 2})
    no_history = EscalationRules.from_settings({**DEFAULTS, "CUSTOMER_HISTORY_SIZE": 0})
    assert no_history.config()["worsening_messages"] == 0


# --- end to end: gunicorn, the session worker, the update feed ----------------------------

@pytest.fixture
def api(api_server, worker, redis_client):
    return api_server.url


def submit(api, text, token=CHANNEL_TOKEN, **data) -> str:
    response = requests.post(f"{api}/task", json=submission(text, **data), headers=bearer(token),
                             timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def finished(api, task_id) -> dict:
    def done():
        task = requests.get(f"{api}/task/{task_id}", headers=bearer(OPERATOR_TOKEN),
                            timeout=5).json()
        return task if task["status"] == "completed" else None
    return wait_until(done, 30, message=f"{task_id} to complete")


def feed(api) -> Client:
    return Client.connect(api.replace("http://", "ws://") + "/tasks/updates",
                          headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})


def test_a_furious_high_priority_chat_escalates_and_the_feed_says_so(api):
    client = feed(api)
    try:
        task_id = submit(api, FURIOUS, priority="high", customer_id="CUST-ANGRY")
        messages = receive_until(client, lambda got: any(
            m["type"] == "escalation" and m["task_id"] == task_id for m in got))
    finally:
        client.close()

    result = finished(api, task_id)["result"]
    assert result["scores"]["compound"] == polarity_scores(FURIOUS)["compound"] == -0.8439
    assert result["escalate"] is True
    assert result["escalation_reasons"] == [{
        "rule": "strongly_negative_priority",
        "message": "score -0.8439 is at or below -0.6 on a high-priority message"}]
    mine = [m for m in messages if m.get("task_id") == task_id]
    completed = next(m for m in mine if m.get("status") == "completed")
    escalation = next(m for m in mine if m["type"] == "escalation")
    assert mine.index(completed) < mine.index(escalation)  # completed, then escalated
    assert completed["result"]["escalate"] is True
    assert escalation["id"] and escalation["at"].endswith("+00:00")
    assert {k: v for k, v in escalation.items() if k not in ("id", "at")} == {
        "type": "escalation", "task_id": task_id, "channel": "chat", "priority": "high",
        "customer_id": "CUST-ANGRY", "sentiment": "negative", "compound": -0.8439,
        "reasons": result["escalation_reasons"]}


def test_a_mildly_negative_low_priority_email_does_not_escalate(api, redis_client):
    task_id = submit(api, MILDLY_ANNOYED, channel="email", priority="low")

    result = finished(api, task_id)["result"]

    assert result["sentiment"] == "negative" and result["scores"]["compound"] == -0.3415
    assert result["escalate"] is False and result["escalation_reasons"] == []
    assert not [entry for entry in redis_client.xrange(keys.EVENTS)
                if json.loads(entry[1]["event"]).get("type") == "escalation"]


def test_a_customer_getting_steadily_worse_escalates_on_the_third_message(api):
    results = []
    for text in STEADILY_WORSE:  # one after the other: the history orders by completion
        results.append(finished(api, submit(api, text, customer_id="CUST-SLIDING"))["result"])

    assert [r["scores"]["compound"] for r in results] == [0.2263, 0.0, -0.5849]
    assert [r["escalate"] for r in results] == [False, False, True]
    assert results[2]["escalation_reasons"] == [{
        "rule": "customer_worsening",
        "message": "the customer's last 3 messages each scored lower than the one before: "
                   "0.2263, 0.0000, -0.5849"}]


def test_escalations_are_counted_per_channel_in_channels_and_metrics(api):
    finished(api, submit(api, FURIOUS, channel="voice"))
    finished(api, submit(api, FURIOUS, priority="high"))
    finished(api, submit(api, FURIOUS, channel="email"))  # normal email: no rule applies

    channels = requests.get(f"{api}/channels", headers=bearer(), timeout=5).json()["channels"]
    metrics = requests.get(f"{api}/metrics", headers=bearer(), timeout=5).json()
    prometheus = requests.get(f"{api}/metrics", headers={**bearer(), "Accept": "text/plain"},
                              timeout=5).text

    assert {c: channels[c]["escalated"] for c in channels} == {"chat": 1, "voice": 1,
                                                               "email": 0}
    assert metrics["escalations"] == {
        "total": 2, "by_channel": {"chat": 1, "voice": 1, "email": 0},
        "by_rule": {"strongly_negative_priority": 1, "strongly_negative_channel": 1,
                    "customer_worsening": 0}}
    assert 'sp_escalations{channel="voice"} 1.0' in prometheus


# --- a worker configured otherwise ----------------------------------------------------------

@pytest.fixture(scope="module")
def reconfigured_worker(private_redis, tmp_path_factory):
    with running_worker(private_redis.url, tmp_path_factory.mktemp("escalation"),
                        "--concurrency", "1", ESCALATION_NEGATIVE_THRESHOLD=-0.3,
                        ESCALATION_PRIORITIES="low", ESCALATION_CHANNELS="",
                        ESCALATION_WORSENING_MESSAGES=0) as worker:
        yield worker


def test_settings_change_the_thresholds_and_scopes(private_redis, private_store,
                                                   reconfigured_worker):
    client = make_app(private_redis.url).test_client()

    def result_of(text, **data):
        response = client.post("/task", json=submission(text, **data), headers=bearer())
        task_id = response.get_json()["task_id"]
        return wait_until(lambda: client.get(f"/task/{task_id}", headers=bearer())
                          .get_json().get("result"), 30, message=f"{task_id} to complete")

    mild_email = result_of(MILDLY_ANNOYED, channel="email", priority="low")
    furious_call = result_of(FURIOUS, channel="voice", priority="high")
    sliding = [result_of(text, customer_id="CUST-SLIDING") for text in STEADILY_WORSE]

    assert mild_email["escalation_reasons"] == [{
        "rule": "strongly_negative_priority",
        "message": "score -0.3415 is at or below -0.3 on a low-priority message"}]
    assert furious_call["escalate"] is False  # neither high nor voice escalates now
    assert [r["escalate"] for r in sliding] == [False, False, False]  # the rule is off
