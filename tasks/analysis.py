"""Sentiment of one text with VADER: a pure function, no Celery, Flask or Redis here.

``analyse("Great food! Terrible service.")`` returns::

    {"sentiment": "mixed", "confidence": 0.1617, "confidence_band": "low",
     "intensity": "positive", "document_score": 0.3164,
     "class_scores": {"positive": 0.3272, "negative": 0.0, "neutral": 0.1839, "mixed": 0.4889},
     "scores": {"neg": 0.327, "neu": 0.211, "pos": 0.463, "compound": 0.3164},
     "sentences": [{"start": 0, "end": 11, "compound": 0.6588, "sentiment": "positive"},
                   {"start": 12, "end": 29, "compound": -0.4767, "sentiment": "negative"}],
     "language": null, "lexicon_coverage": 0.5,
     "model": {"name": "vaderSentiment", "version": "3.3.2"}}

- ``scores``: VADER's ``polarity_scores`` of the whole text, untouched.
- ``sentences``: the text cut by ``tasks.sentences`` (``text[start:end]`` is the sentence),
  each with VADER's compound of that sentence alone and VADER's label of it. One VADER call
  per sentence (none for a sentence of which VADER knows no word: it scores 0); a text of
  one sentence reuses the whole-text call.
- ``document_score`` (-1..1): the compound of the whole text, up to ``LONG_TEXT_CHARS``
  (140 characters: the tweets VADER was validated on). A longer text of two sentences or
  more, whose compound saturates, gets the mean of its sentences' compounds, each weighted
  by its length in characters, and twice that for a clearly negative sentence (compound
  <= -0.4), so that a complaint weighs more than the pleasantries around it.
- ``class_scores`` sum to 1 (within their rounding to 4 decimals). ``mixed`` is
  ``2 * min(W+, W-) / (W+ + W-)``, where W+ and W- sum those weights (length, doubled when
  clearly negative) over the clearly positive (compound >= 0.4) and the clearly negative
  (<= -0.4) sentences: 0 unless both kinds occur, 1 when they weigh the same. The rest,
  ``1 - mixed``, is split between two classes. The label VADER's thresholds give the
  document score (positive at >= 0.05, negative at <= -0.05, neutral between) gets a share
  ``p = 0.5 + 0.5 * m`` of it, where ``m`` is how far inside that label's range the score
  lies (0 on the boundary with the next label, 1 at the far end: ``(score - 0.05) / 0.95``
  for positive, ``(-score - 0.05) / 0.95`` for negative, ``1 - |score| / 0.05`` for
  neutral); the neighbouring label on the score's side gets ``1 - p`` (neutral next to
  positive or negative; positive or negative next to neutral).
- ``sentiment``: the class with the highest score, which is ``mixed`` when it beats the
  document score's label and that label otherwise (so for a one-sentence text, VADER's own
  label of its compound); ``unknown`` when VADER cannot judge the text (below).
- ``confidence`` (0..1): the lead of the label's class score over the runner-up's. For a
  text without both clear kinds of sentence that is ``m``: a text scored 0.06 is positive
  with confidence 0.01, one word less and it would have been neutral. 0 when ``unknown``.
- ``confidence_band``: ``high`` at a confidence >= 0.6, ``medium`` at >= 0.3, else ``low``.
- ``intensity``: five levels of the document score: ``very_negative`` at <= -0.75,
  ``negative`` at <= -0.05, ``neutral`` between, ``positive`` at >= 0.05, ``very_positive``
  at >= 0.75. ``null``, like ``class_scores``, when the sentiment is ``unknown``.
- ``lexicon_coverage``: the share of VADER's tokens of the text (its own tokenisation, with
  emoji turned into their descriptions) that VADER knows: its lexicon (emoticons and slang
  included), its negations and its intensifiers. ``language``: when that share is under
  ``MIN_LEXICON_COVERAGE`` (a fifth), the language CLD2 reliably finds (``tasks.language``),
  or ``und`` when it cannot tell; ``null`` when VADER knows enough words not to ask (CLD2
  costs about as much as a sixth of VADER's call, and most texts do not need it).
- ``unknown``: VADER reads English only, and scores a text without words it knows 0, so
  "Das ist ein sehr schlechter Service" would be a confident neutral. A text is judged only
  when at least ``MIN_LEXICON_COVERAGE`` (a fifth) of its tokens are words VADER knows, or
  when CLD2 finds it reliably English. The coverage alone cannot decide: English statements
  without sentiment words ("The package arrived on Tuesday") contain no word VADER knows,
  and are neutral.
"""
import threading
from functools import lru_cache
from importlib.metadata import version

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    NEGATE,
    SentimentIntensityAnalyzer,
    SentiText,
)

from tasks import language, sentences
from tasks.vader import FasterVader

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
CLEAR_SENTENCE = 0.4  # a sentence at least this far from 0 is clearly positive or negative
NEGATIVE_WEIGHT = 2  # weight of a clearly negative sentence in the document score, per char
VERY = 0.75  # the document score from which intensity is very_positive or very_negative
# Longer texts get a document score built from their sentences: a tweet's length when VADER
# was validated on tweets (its whole-text compound scores them best, F1 0.96).
LONG_TEXT_CHARS = 140
MIN_LEXICON_COVERAGE = 0.2
HIGH_CONFIDENCE, MEDIUM_CONFIDENCE = 0.6, 0.3
UNKNOWN, MIXED = "unknown", "mixed"
SENTENCE_LABELS = ("positive", "neutral", "negative")
LABELS = (*SENTENCE_LABELS, MIXED, UNKNOWN)
INTENSITIES = ("very_negative", "negative", "neutral", "positive", "very_positive")
CONFIDENCE_BANDS = ("high", "medium", "low")
# The result's fields, in the order analyse() writes them.
RESULT_FIELDS = ("sentiment", "confidence", "confidence_band", "intensity", "document_score",
                 "class_scores", "scores", "sentences", "language", "lexicon_coverage", "model")
MODEL = "vaderSentiment"
MODEL_VERSION = version("vaderSentiment")


class _Analyzer(FasterVader):
    """VADER's scores (``tasks.vader``), keeping the tokens of this thread's last text too."""

    def __init__(self):
        super().__init__()
        self.known_words = frozenset(self.lexicon) | set(NEGATE) | set(BOOSTER_DICT)
        self.last = threading.local()

    def _but_check(self, words_and_emoticons, sentiments):
        # polarity_scores calls this once per text with its tokens: reading them here saves
        # tokenising the text a second time for the lexicon coverage.
        self.last.tokens = words_and_emoticons
        return SentimentIntensityAnalyzer._but_check(words_and_emoticons, sentiments)

    def sentence_compound(self, sentence: str) -> float:
        """VADER's compound of ``sentence``; 0.0 without a call when it knows none of its words.

        Exact: VADER gives a token a valence only when its lexicon has it, and tokens without
        valence make a compound of 0. Only for ASCII text: emoji first turn into words.
        """
        if sentence.isascii() and not any(
                SentiText._strip_punc_if_word(token).lower() in self.lexicon
                for token in sentence.split()):
            return 0.0
        return self.polarity_scores(sentence)["compound"]


@lru_cache(maxsize=1)
def _analyzer() -> _Analyzer:
    # Loading the lexicon takes tens of milliseconds: once per process.
    return _Analyzer()


def label(compound: float) -> str:
    """VADER's documented label for a compound score."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _margin(score: float) -> float:
    """How far inside its label's range a score lies, from 0 to 1, unrounded."""
    sentiment = label(score)
    if sentiment == "positive":
        margin = (score - POSITIVE_THRESHOLD) / (1 - POSITIVE_THRESHOLD)
    elif sentiment == "negative":
        margin = (NEGATIVE_THRESHOLD - score) / (1 + NEGATIVE_THRESHOLD)
    else:
        margin = 1 - abs(score) / POSITIVE_THRESHOLD
    return min(max(margin, 0.0), 1.0)


def confidence(compound: float) -> float:
    """How far inside its label's range a compound score lies, from 0 to 1."""
    return round(_margin(compound), 4)


def polarity_scores(text: str) -> dict:
    """VADER's own scores for the whole text, untouched."""
    return _analyzer().polarity_scores(text)


def lexicon_coverage(tokens: list[str]) -> float:
    """The share of VADER's tokens that VADER knows (0 for no tokens)."""
    if not tokens:
        return 0.0
    known = _analyzer().known_words.__contains__
    return sum(map(known, map(str.lower, tokens))) / len(tokens)


def sentence_weights(spans: list[tuple[int, int]], compounds: list[float]) -> list[int]:
    """Each sentence's length in characters, doubled for a clearly negative sentence."""
    return [(end - start) * (NEGATIVE_WEIGHT if compound <= -CLEAR_SENTENCE else 1)
            for (start, end), compound in zip(spans, compounds, strict=True)]


def document_score(text: str, compound: float, weights: list[int],
                   compounds: list[float]) -> float:
    """The whole text's compound, or for a long text the weighted mean of its sentences'."""
    if len(text) <= LONG_TEXT_CHARS or len(compounds) == 1:
        return compound
    return sum(w * c for w, c in zip(weights, compounds, strict=True)) / sum(weights)


def mixed_share(weights: list[int], compounds: list[float]) -> float:
    """``2 min(W+, W-) / (W+ + W-)`` over clearly positive and clearly negative sentences."""
    positive = negative = 0
    for weight, compound in zip(weights, compounds, strict=True):
        if compound >= CLEAR_SENTENCE:
            positive += weight
        elif compound <= -CLEAR_SENTENCE:
            negative += weight
    if not (positive and negative):
        return 0.0
    return 2 * min(positive, negative) / (positive + negative)


def class_scores(score: float, mixed: float) -> dict[str, float]:
    """Positive, negative, neutral and mixed shares of a document score, summing to 1."""
    rest = 1 - mixed
    first = label(score)
    p = 0.5 + 0.5 * _margin(score)
    if first == "neutral":
        second = "positive" if score > 0 else "negative"
    else:
        second = "neutral"
    shares = {"positive": 0.0, "negative": 0.0, "neutral": 0.0, "mixed": mixed}
    shares[first] = rest * p
    shares[second] = rest * (1 - p)
    return shares


def intensity(score: float) -> str:
    """Five levels of a document score."""
    if score <= -VERY:
        return "very_negative"
    if score >= VERY:
        return "very_positive"
    return label(score)


def confidence_band(value: float) -> str:
    if value >= HIGH_CONFIDENCE:
        return "high"
    if value >= MEDIUM_CONFIDENCE:
        return "medium"
    return "low"


def analyse(text: str) -> dict:
    """The whole analysis of one text; see the module's docstring for each field."""
    analyzer = _analyzer()
    scores = analyzer.polarity_scores(text)
    coverage = lexicon_coverage(analyzer.last.tokens)
    spans = sentences.spans(text) or [(0, len(text))]
    score, mixed = scores["compound"], 0.0
    if len(spans) == 1:  # the whole text is the sentence: VADER has read it already
        compounds = [score]
    else:
        compounds = [analyzer.sentence_compound(text[start:end]) for start, end in spans]
        weights = sentence_weights(spans, compounds)
        score = document_score(text, score, weights, compounds)
        mixed = mixed_share(weights, compounds)
    # The language decides only when VADER knows too few of the words: CLD2 runs then only.
    judged, detected = coverage >= MIN_LEXICON_COVERAGE, None
    if not judged:
        detected = language.detect(text)
        judged = detected == language.ENGLISH
    sentiment, lead, shares = UNKNOWN, 0.0, None
    if judged:
        shares = class_scores(score, mixed)
        first, second = sorted(shares.values(), reverse=True)[:2]
        lead = round(first - second, 4)
        sentiment = label(score)
        if mixed > shares[sentiment]:
            sentiment = MIXED
        shares = {name: round(share, 4) for name, share in shares.items()}
    return {
        "sentiment": sentiment,
        "confidence": lead,
        "confidence_band": confidence_band(lead),
        "intensity": intensity(score) if judged else None,
        "document_score": round(score, 4),
        "class_scores": shares,
        "scores": scores,
        "sentences": [{"start": start, "end": end, "compound": compound,
                       "sentiment": label(compound)}
                      for (start, end), compound in zip(spans, compounds, strict=True)],
        "language": detected,
        "lexicon_coverage": round(coverage, 4),
        "model": {"name": MODEL, "version": MODEL_VERSION},
    }
