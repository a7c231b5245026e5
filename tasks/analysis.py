"""Sentiment of one text with VADER: a pure function, no Celery, Flask or Redis here.

Labels use VADER's documented thresholds on the compound score: positive at >= 0.05,
negative at <= -0.05, neutral between.

``confidence`` says how clearly the compound score sits inside its label's range: 0 on the
label's boundary, 1 at the far end of the range. For positive that is
``(compound - 0.05) / 0.95``, for negative ``(-compound - 0.05) / 0.95``, and for neutral
``1 - |compound| / 0.05`` (1 for a compound of exactly 0). A text scored 0.06 is positive
with confidence 0.01: one word less and it would have been neutral.
"""
from functools import lru_cache
from importlib.metadata import version

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
MODEL = "vaderSentiment"
MODEL_VERSION = version("vaderSentiment")


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicon takes tens of milliseconds: once per process.
    return SentimentIntensityAnalyzer()


def label(compound: float) -> str:
    """VADER's documented label for a compound score."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def confidence(compound: float) -> float:
    """How far inside its label's range a compound score lies, from 0 to 1."""
    sentiment = label(compound)
    if sentiment == "positive":
        margin = (compound - POSITIVE_THRESHOLD) / (1 - POSITIVE_THRESHOLD)
    elif sentiment == "negative":
        margin = (NEGATIVE_THRESHOLD - compound) / (1 + NEGATIVE_THRESHOLD)
    else:
        margin = 1 - abs(compound) / POSITIVE_THRESHOLD
    return round(min(max(margin, 0.0), 1.0), 4)


def polarity_scores(text: str) -> dict:
    """VADER's own scores for the whole text, untouched."""
    return _analyzer().polarity_scores(text)


def analyse(text: str) -> dict:
    """Label, confidence and VADER scores of one text."""
    scores = polarity_scores(text)
    return {
        "sentiment": label(scores["compound"]),
        "confidence": confidence(scores["compound"]),
        "scores": scores,
        "model": {"name": MODEL, "version": MODEL_VERSION},
    }
