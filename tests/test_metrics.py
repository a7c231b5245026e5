"""Histogram bins and percentiles: pure logic."""
import pytest

from tasks import metrics


@pytest.mark.parametrize("ms", [0.05, 0.3, 1, 7.5, 42, 999, 12_345, 3_600_000])
def test_a_latency_lies_within_its_bin(ms):
    index = metrics.bin_index(ms)
    assert ms <= metrics.bin_upper_edge(index)
    assert index == 0 or ms > metrics.bin_upper_edge(index - 1)


def test_percentile_is_within_one_bin_of_the_true_value():
    latencies = [float(ms) for ms in range(1, 1001)]
    bins = {}
    for ms in latencies:
        bins[metrics.bin_index(ms)] = bins.get(metrics.bin_index(ms), 0) + 1

    for fraction, true_value in ((0.5, 500), (0.95, 950), (0.99, 990)):
        estimate = metrics.percentile(bins, fraction)
        assert true_value <= estimate <= true_value * metrics.BIN_GROWTH


def test_no_data_has_no_percentile():
    assert metrics.percentile({}, 0.5) is None
