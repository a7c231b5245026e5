"""Pure webhook logic: address checks, signatures, event matching, backoff. No broker."""
import ipaddress
import json

import pytest

from tasks.webhooks import addresses, events, signing
from tasks.webhooks.delivery import backoff


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("192.168.0.10", "private"),
    ("172.16.5.4", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not-global"),  # carrier-grade NAT
])
def test_internal_addresses_are_refused(address, reason):
    assert addresses.refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert addresses.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://10.0.0.7/", "http://169.254.169.254/latest/meta-data",
    "http://[::1]:9000/x", "http://localhost:5000/hook",  # a name resolving to loopback
])
def test_urls_to_internal_addresses_are_refused_unless_allowed(url):
    with pytest.raises(addresses.URLRefused, match="resolves to a"):
        addresses.check_url(url, allow_private=False)
    addresses.check_url(url, allow_private=True)


def test_a_name_that_does_not_resolve_is_refused_as_transient():
    with pytest.raises(addresses.URLRefused) as refused:
        addresses.check_url("http://no-such-host.invalid/hook", allow_private=True)
    assert refused.value.transient


def test_a_target_keeps_the_name_for_the_host_header_and_the_path_with_its_query():
    target = addresses.parse("https://hooks.example.com:8443/in?source=sp")
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?source=sp")
    assert target.host_header == "hooks.example.com:8443"
    assert addresses.parse("http://[::1]/").host_header == "[::1]"
    assert addresses.parse("http://example.com").path == "/"


def test_a_signature_verifies_and_a_changed_body_or_an_old_timestamp_does_not():
    body = b'{"id":"1-0","type":"task.completed"}'
    value = signing.header("whsec_k", body, timestamp=1_800_000_000)
    assert value.startswith("t=1800000000,v1=")
    assert signing.verify("whsec_k", body, value, now=1_800_000_010)
    assert not signing.verify("whsec_other", body, value, now=1_800_000_010)
    assert not signing.verify("whsec_k", body + b" ", value, now=1_800_000_010)
    assert not signing.verify("whsec_k", body, value, now=1_800_000_000 + 301)  # a replay


# The escalation helper's contract: an entry of the event stream with "type": "escalation".
ESCALATION = {"type": "escalation", "task_id": "task_1", "channel": "voice",
              "priority": "high", "customer_id": "C9", "reasons": ["very negative on voice"],
              "at": 1_800_000_000.25}
COMPLETED = {"task_id": "task_2", "status": "completed", "channel": "chat", "priority": "normal",
             "customer_id": None, "worker": "w@h", "at": 1_800_000_000.5,
             "result": {"sentiment": "positive"}}
SUBSCRIPTIONS = [
    {"id": "wh_esc", "url": "https://a.example/h", "events": ["task.escalated"]},
    {"id": "wh_all", "url": "https://b.example/h",
     "events": ["task.completed", "task.escalated", "task.failed"]},
    {"id": "wh_failed", "url": "https://c.example/h", "events": ["task.failed"]},
]


def entry(event: dict, **fields) -> dict:
    return {"event": json.dumps(event), "event_id": "1800000000250-0", "outbox_id": "9-0",
            "owner": "abc", **fields}


@pytest.mark.parametrize("event, kind", [
    (ESCALATION, "task.escalated"), (COMPLETED, "task.completed"),
    ({"task_id": "t", "status": "failed"}, "task.failed"),
    ({"task_id": "t", "status": "queued"}, None), ({"task_id": "t", "status": "processing"}, None),
])
def test_event_kinds(event, kind):
    assert events.kind_of(event) == kind


def test_an_escalation_goes_to_the_subscriptions_that_want_escalations_only():
    found = events.deliveries(entry(ESCALATION, callback="https://cb.example/"), SUBSCRIPTIONS)
    assert [d["webhook_id"] for d in found] == ["wh_esc", "wh_all"]  # never to a callback
    body = json.loads(found[0]["body"])
    assert body["type"] == "task.escalated" and body["reasons"] == ["very negative on voice"]
    assert body["id"] == "1800000000250-0"
    assert body["timestamp"] == "2027-01-15T08:00:00.250+00:00"
    assert {d["id"] for d in found} == {"1800000000250-0:wh_esc", "1800000000250-0:wh_all"}


def test_a_completion_goes_to_its_callback_and_its_subscribers_with_one_body():
    found = events.deliveries(entry(COMPLETED, kind="task.completed",
                                    callback="https://cb.example/"), SUBSCRIPTIONS)
    assert [(d["webhook_id"], d["url"]) for d in found] == [
        ("wh_all", "https://b.example/h"), (None, "https://cb.example/")]
    assert found[0]["body"] == found[1]["body"]
    body = json.loads(found[0]["body"])
    assert body == {"id": "1800000000250-0", "type": "task.completed",
                    "timestamp": "2027-01-15T08:00:00.500+00:00", "task_id": "task_2",
                    "status": "completed", "channel": "chat", "priority": "normal",
                    "customer_id": None, "result": {"sentiment": "positive"}}
    assert found[1]["owner"] == "abc"


def test_an_event_nobody_wants_has_no_delivery():
    assert events.deliveries(entry({"task_id": "t", "status": "failed"}),
                             [SUBSCRIPTIONS[0]]) == []


def test_backoff_doubles_with_jitter_and_is_capped():
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64)]:
        delays = [backoff(attempt, 2) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff(30, 2) <= 600
