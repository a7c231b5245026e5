"""The client's retry timing: backoff with full jitter, Retry-After, the rate-limit headers."""
import random
from datetime import UTC, datetime

import pytest

from sentiment_client.retry import backoff_delay, parse_retry_after, rate_limit_pause

NOW = datetime(2026, 11, 29, 14, 0, 0, tzinfo=UTC)
NOW_HTTP = "Sun, 29 Nov 2026 14:00:00 GMT"


@pytest.mark.parametrize("attempt, ceiling", [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0),
                                              (6, 30.0), (20, 30.0)])
def test_full_jitter_spreads_delays_over_a_doubling_range_up_to_the_cap(attempt, ceiling):
    rng = random.Random(attempt)
    delays = [backoff_delay(attempt, base=0.5, cap=30.0, rng=rng) for _ in range(2000)]

    assert all(0 <= delay <= ceiling for delay in delays)
    assert max(delays) > 0.9 * ceiling  # the whole range is used ...
    assert min(delays) < 0.1 * ceiling  # ... from zero up: "full" jitter, not equal jitter
    assert len(set(delays)) > 1900  # clients failing together do not retry together


def test_the_bounds_are_exact_at_the_extremes_of_the_random_source():
    class Extreme(random.Random):
        def __init__(self, fraction):
            super().__init__()
            self.fraction = fraction

        def uniform(self, low, high):
            return low + (high - low) * self.fraction

    assert backoff_delay(3, 0.5, 30.0, rng=Extreme(0.0)) == 0.0
    assert backoff_delay(3, 0.5, 30.0, rng=Extreme(1.0)) == 4.0
    assert backoff_delay(10, 0.5, 30.0, rng=Extreme(1.0)) == 30.0


def test_a_retry_after_is_waited_in_full_with_at_most_base_seconds_of_spread():
    rng = random.Random(7)
    delays = [backoff_delay(5, base=0.5, cap=30.0, retry_after=12.0, rng=rng)
              for _ in range(500)]

    assert all(12.0 <= delay <= 12.5 for delay in delays)
    assert len(set(delays)) > 450


@pytest.mark.parametrize("value, seconds", [
    ("7", 7.0), (" 0 ", 0.0), ("120", 120.0),
    (NOW_HTTP.replace("14:00:00", "14:00:30"), 30.0),  # an HTTP-date 30 s ahead
    (NOW_HTTP.replace("14:00:00", "13:59:00"), 0.0),  # a date already past: at once
    ("Sunday, 29-Nov-26 14:01:00 GMT", 60.0),  # the obsolete RFC 850 form
    (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None),
])
def test_retry_after_reads_delta_seconds_and_http_dates(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


def test_the_rate_limit_pauses_until_the_reset_once_nothing_remains():
    reset = NOW.timestamp() + 42
    spent = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
             "X-RateLimit-Reset": str(int(reset)), "Date": NOW_HTTP}

    assert rate_limit_pause(spent) == 42.0
    assert rate_limit_pause({**spent, "X-RateLimit-Remaining": "1"}) is None


def test_the_reset_is_read_on_the_servers_clock_not_this_machines():
    # The server's clock is an hour behind this machine's: the pause is still 10 s.
    server_now = NOW.timestamp() - 3600
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(server_now + 10)),
               "Date": "Sun, 29 Nov 2026 13:00:00 GMT"}

    assert rate_limit_pause(headers) == 10.0


def test_without_rate_limit_headers_nothing_pauses():
    assert rate_limit_pause({}) is None
    assert rate_limit_pause({"X-RateLimit-Remaining": "x", "X-RateLimit-Reset": "1"}) is None
