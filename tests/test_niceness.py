"""A worker that takes backlog priorities yields the CPU; the urgent lane does not (real
workers, their niceness read from the kernel)."""
import os

import psutil

from conftest import running_worker

STARTED_AT = os.getpriority(os.PRIO_PROCESS, 0)  # the workers inherit the test's niceness


def niceness_of(worker) -> list[int]:
    """The niceness of a worker's main process, then of each pool process."""
    main = psutil.Process(worker.process.pid)
    return [main.nice(), *(child.nice() for child in main.children())]


def test_a_backlog_worker_and_its_pool_yield_and_the_urgent_lane_does_not(redis_server,
                                                                          tmp_path):
    with running_worker(redis_server.url, tmp_path, "--concurrency", "2",
                        name="backlog") as backlog, \
            running_worker(redis_server.url, tmp_path, "--pool", "solo", "--priorities", "high",
                           name="urgent") as urgent:
        assert niceness_of(backlog) == [max(STARTED_AT, 19)] * 3
        assert niceness_of(urgent) == [STARTED_AT]


def test_zero_keeps_the_niceness_the_worker_was_started_with(redis_server, tmp_path):
    with running_worker(redis_server.url, tmp_path, "--concurrency", "1",
                        WORKER_NICENESS=0) as worker:
        assert niceness_of(worker) == [STARTED_AT] * 2
