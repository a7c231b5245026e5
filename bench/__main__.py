"""``python -m bench [--quick] [--only a,b]``: run the benchmarks, write the report."""
import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from bench import RESULTS_DIR, ROOT, report, runner
from bench.plan import FULL, QUICK


def _exit_on_signal(signum, _frame):
    # SystemExit unwinds through the runner's finally, which stops every started process.
    raise SystemExit(128 + signum)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny durations and counts: a smoke run, figures meaningless; "
                             "writes bench/results/quick.{md,json} unless told otherwise")
    parser.add_argument("--only", default="",
                        help=f"comma-separated scenarios to run, of {','.join(runner.SCENARIOS)}")
    parser.add_argument("--markdown", type=Path, help="where to write the report")
    parser.add_argument("--json", type=Path, help="where to write the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(runner.SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.only = only or None
    stem = "quick" if args.quick else "latest"
    args.markdown = args.markdown or (RESULTS_DIR / "quick.md" if args.quick
                                      else ROOT / "BENCHMARKS.md")
    args.json = args.json or RESULTS_DIR / f"{stem}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    began = time.monotonic()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(relative)6.1fs %(levelname)-7s %(message)s",
    )
    old_factory = logging.getLogRecordFactory()

    def factory(*a, **kw):
        record = old_factory(*a, **kw)
        record.relative = time.monotonic() - began
        return record

    logging.setLogRecordFactory(factory)
    for quiet in ("celery", "kombu", "amqp", "urllib3"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    # Ctrl-C raises KeyboardInterrupt even when started where SIGINT was ignored (a
    # background job), so the runner's finally always gets to stop what it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)

    try:
        results = runner.run(QUICK if args.quick else FULL, args.only)
    except KeyboardInterrupt:
        print("\ninterrupted: every process the bench started was stopped; no report written",
              file=sys.stderr)
        return 130
    report.write(results, args.markdown, args.json)
    print()
    for target in results["targets"]:
        print(f"{report.mark(target['met'])} {target['target']}: {target['figure']}")
    for name, scenario in results["scenarios"].items():
        if "error" in scenario:
            print(f"!! scenario {name} failed: {scenario['error']}")
    print(f"\n{args.markdown} and {args.json} written in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
