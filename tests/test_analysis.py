"""VADER labels, confidence and scores: the pure analysis, no Celery, Flask or Redis."""
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tasks.analysis import analyse, confidence, label


@pytest.mark.parametrize("compound, expected", [
    (0.05, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.0499, "neutral"),
    (-0.05, "negative"), (1.0, "positive"), (-1.0, "negative"),
])
def test_label_uses_vaders_thresholds(compound, expected):
    assert label(compound) == expected


@pytest.mark.parametrize("compound", [-1.0, -0.5, -0.05, -0.0499, 0.0, 0.0499, 0.05, 0.5, 1.0])
def test_confidence_is_between_0_and_1(compound):
    assert 0.0 <= confidence(compound) <= 1.0


@pytest.mark.parametrize("compound", [0.05, -0.05])
def test_confidence_is_0_on_a_labels_boundary(compound):
    assert confidence(compound) == 0.0


def test_neutral_confidence_falls_to_0_at_its_boundary():
    assert confidence(0.0499) == confidence(-0.0499) == pytest.approx(0.002, abs=1e-4)


@pytest.mark.parametrize("compound", [1.0, -1.0, 0.0])
def test_confidence_is_1_at_the_far_end_of_a_range(compound):
    assert confidence(compound) == 1.0


def test_positive_example_from_the_module_docstring():
    assert (label(0.06), confidence(0.06)) == ("positive", pytest.approx(0.0105, abs=1e-4))


def steps(low: float, high: float, count: int = 50) -> list[float]:
    return [low + (high - low) * i / count for i in range(count + 1)]


@pytest.mark.parametrize("name, compounds", [
    ("positive, rising with compound", steps(0.05, 1.0)),
    ("negative, rising as compound falls", steps(-0.05, -1.0)),
    ("neutral, rising towards 0 from above", steps(0.0499, 0.0)),
    ("neutral, rising towards 0 from below", steps(-0.0499, 0.0)),
])
def test_confidence_grows_away_from_the_boundary(name, compounds):
    assert len({label(c) for c in compounds}) == 1
    values = [confidence(c) for c in compounds]
    assert values == sorted(values)
    assert values[0] < values[-1]


@pytest.mark.parametrize("text, sentiment", [
    ("I love this", "positive"),
    ("This is terrible", "negative"),
    ("The package arrived on Tuesday", "neutral"),
])
def test_analyse_returns_vaders_own_scores(text, sentiment):
    result = analyse(text)

    assert result["scores"] == SentimentIntensityAnalyzer().polarity_scores(text)
    assert result["sentiment"] == sentiment
    assert result["confidence"] == confidence(result["scores"]["compound"])
    assert result["model"]["name"] == "vaderSentiment"


def test_a_plain_statement_is_fully_neutral():
    result = analyse("The package arrived on Tuesday")

    assert result["scores"] == {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
    assert result["confidence"] == 1.0
