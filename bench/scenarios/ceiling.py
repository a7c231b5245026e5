"""1. Ceiling: in-process VADER on the same texts, on one core, no queue and no HTTP."""
import statistics
import time

from bench.context import Context


def passes(function, texts, seconds: float) -> list[dict]:
    """Whole passes of ``function`` over ``texts`` until ``seconds`` have gone by."""
    rounds = []
    deadline = time.perf_counter() + seconds
    while not rounds or time.perf_counter() < deadline:
        wall, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            function(text)
        rounds.append({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu})
    return rounds


def measure(function, texts, seconds: float) -> dict:
    rounds = passes(function, texts, seconds)
    rates = [len(texts) / r["wall"] for r in rounds]
    cpu = sum(r["cpu"] for r in rounds)
    wall = sum(r["wall"] for r in rounds)
    median = statistics.median(rates)
    return {"texts_per_s": round(median), "best_texts_per_s": round(max(rates)),
            "us_per_text": round(1e6 / median, 2), "passes": len(rounds),
            "texts": len(texts) * len(rounds), "cpu_share": round(cpu / wall, 3)}


def run(ctx: Context) -> dict:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from tasks import analysis

    texts = ctx.texts.texts
    analysis.polarity_scores("warm up")  # the lexicon loads once, not inside the timing
    stock = SentimentIntensityAnalyzer()
    return {"analyse": measure(analysis.analyse, texts, ctx.plan.ceiling_seconds),
            "polarity_scores": measure(analysis.polarity_scores, texts,
                                       ctx.plan.ceiling_seconds),
            "stock_polarity_scores": measure(stock.polarity_scores, texts,
                                             ctx.plan.ceiling_seconds)}


def texts_per_second(result: dict | None) -> float | None:
    """The ceiling the other scenarios are compared with: ``analyse``, the pipeline's work."""
    try:
        return result["analyse"]["texts_per_s"]
    except (KeyError, TypeError):
        return None
