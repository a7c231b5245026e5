"""`make bench`: throughput, latency and memory of the platform against its ceiling and a peer.

``python -m bench`` starts a private Redis, the project's API and worker, and the plain
implementation kept in ``bench/peer/`` as the yardstick, runs every scenario of issue 5 on
them in one run, and writes ``BENCHMARKS.md`` and ``bench/results/latest.json``.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
