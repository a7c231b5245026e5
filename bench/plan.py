"""How long and how much each scenario runs: the full run, and ``--quick`` for smoke runs."""
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plan:
    quick: bool
    ceiling_seconds: float  # per function measured
    wrk_seconds: int
    single_rounds: int  # scenario 3 runs this many times per stack, alternating
    wrk_connections: int
    wrk_threads: int
    wrk_max_requests: int  # the count bound of scenario 3's load, far above what it reaches
    sample_interval_seconds: float  # one timed sample message posted this often during load
    drain_timeout_seconds: float
    bulk_texts: int  # per batch size
    bulk_batch_sizes: tuple[int, ...]
    bulk_client_threads: int
    backlog_tasks: int
    backlog_timeout_seconds: float
    high_messages: int
    monitoring_workers: int
    monitoring_requests: int  # per route, bounded by monitoring_seconds too
    monitoring_seconds: float
    inspect_calls: int
    peer_direct_tasks: int


FULL = Plan(
    quick=False,
    ceiling_seconds=2.0,
    wrk_seconds=10,
    single_rounds=3,
    wrk_connections=16,
    wrk_threads=2,
    wrk_max_requests=200_000,
    sample_interval_seconds=0.02,
    drain_timeout_seconds=60,
    bulk_texts=20_000,
    bulk_batch_sizes=(100, 1000),
    bulk_client_threads=2,
    backlog_tasks=10_000,
    backlog_timeout_seconds=40,
    high_messages=50,
    monitoring_workers=4,
    monitoring_requests=200,
    monitoring_seconds=5,
    inspect_calls=2,
    peer_direct_tasks=2_000,
)

QUICK = replace(
    FULL,
    quick=True,
    ceiling_seconds=0.3,
    wrk_seconds=2,
    single_rounds=1,
    wrk_max_requests=40_000,
    drain_timeout_seconds=30,
    bulk_texts=2_000,
    backlog_tasks=1_000,
    backlog_timeout_seconds=15,
    high_messages=10,
    monitoring_requests=20,
    monitoring_seconds=2,
    inspect_calls=1,
    peer_direct_tasks=200,
)
