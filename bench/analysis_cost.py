"""In-process cost per tweet of the analysis, beside VADER's own call: a timing script.

    python -m bench.analysis_cost                     # this checkout's tasks/analysis.py
    python -m bench.analysis_cost old_analysis.py     # another version, e.g. from git show

Median CPU time (``time.process_time``, which other processes on a loaded machine disturb
less than the wall clock) of whole passes over the paper's 4,200 tweets, one thread, with
the lexicon loaded first.
"""
import importlib.util
import statistics
import sys
import time

from bench.data import load as load_texts

PASSES = 15


def load_module(path: str | None):
    if path is None:
        from tasks import analysis
        return analysis
    spec = importlib.util.spec_from_file_location("analysis_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def microseconds_per_text(function, texts: list[str]) -> float:
    passes = []
    for _ in range(PASSES):
        started = time.process_time()
        for text in texts:
            function(text)
        passes.append((time.process_time() - started) / len(texts) * 1e6)
    return statistics.median(passes)


def main(argv: list[str]) -> None:
    module = load_module(argv[0] if argv else None)
    texts = load_texts().texts
    module.polarity_scores("warm up")
    for name in ("analyse", "polarity_scores"):
        cost = microseconds_per_text(getattr(module, name), texts)
        print(f"{name:16} {cost:6.1f} µs of CPU per tweet "
              f"({len(texts)} tweets, median of {PASSES} passes)")


if __name__ == "__main__":
    main(sys.argv[1:])
