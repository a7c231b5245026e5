"""Durations and times as the seed writes them: pure logic."""
import pytest

from app import formatting


@pytest.mark.parametrize("seconds, text", [
    (0.000089, "0.000089s"), (0.00041, "0.00041s"), (0.0139, "0.0139s"), (1.5, "1.5s"),
    (2.0, "2s"), (45.67, "45.7s"), (310, "5m 10s"), (300, "5m"), (9000, "2h 30m"),
    (7200, "2h"), (0, "0s"),
])
def test_durations_read_like_the_seed(seconds, text):
    assert formatting.duration(seconds) == text


def test_timestamps_are_iso_utc():
    assert formatting.timestamp("0") == "1970-01-01T00:00:00.000+00:00"
    assert formatting.timestamp(None) is None
