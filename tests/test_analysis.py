"""VADER labels, confidence and scores: the pure analysis, no Celery, Flask or Redis."""
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conftest import read_snippets
from tasks import analysis
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


# --- the richer result: texts whose answer a person can check ---

POLITE_EMAIL = (
    "Hi team, I hope you are well. Thank you so much for your help last month!\n\n"
    "I have to say this: the replacement arrived broken again and nobody answered my calls. "
    "I am furious. This is unacceptable.\n\n"
    "Best regards,\nAnna")
MIXED_REVIEW = ("The food was delicious and the staff were lovely. "
                "But the room was filthy and the manager was rude.")


def stock_vader(text: str) -> dict:
    return SentimentIntensityAnalyzer().polarity_scores(text)


def test_an_angry_paragraph_in_a_polite_email_is_not_positive():
    result = analyse(POLITE_EMAIL)

    assert stock_vader(POLITE_EMAIL)["compound"] > 0.5  # VADER on the whole block: positive
    assert result["scores"] == stock_vader(POLITE_EMAIL)
    assert result["sentiment"] in ("negative", "mixed")
    assert result["document_score"] < 0  # the complaint outweighs the pleasantries
    assert [s["sentiment"] for s in result["sentences"]] == [
        "positive", "positive", "negative", "negative", "negative", "positive", "neutral"]


def test_a_review_with_clear_praise_and_clear_complaints_is_mixed():
    result = analyse(MIXED_REVIEW)

    assert result["sentiment"] == "mixed"
    assert max(result["class_scores"], key=result["class_scores"].get) == "mixed"
    assert [s["sentiment"] for s in result["sentences"]] == ["positive", "negative"]


def test_a_short_message_of_praise_and_complaint_is_mixed():
    assert analyse("Great food! Terrible service.")["sentiment"] == "mixed"


@pytest.mark.parametrize("text, language", [
    ("Das ist ein sehr schlechter Service", "de"),
    ("Je suis très content", "und"),  # too short for CLD2; VADER knows none of its words
    ("Ich bin sehr zufrieden mit dem Produkt", "de"),
])
def test_a_text_vader_cannot_read_is_unknown_not_a_confident_neutral(text, language):
    result = analyse(text)

    assert result["scores"]["compound"] == 0.0  # VADER alone: a perfect neutral
    assert result["sentiment"] == "unknown"
    assert (result["confidence"], result["confidence_band"]) == (0.0, "low")
    assert result["intensity"] is None and result["class_scores"] is None
    assert result["language"] == language


@pytest.mark.parametrize("text", [
    "lol omg",  # too short for CLD2, but VADER knows both words
    "Thanks 😀",
    "Where is my refund?",  # English without a sentiment word: neutral
])
def test_short_english_that_vader_can_read_is_judged(text):
    assert analyse(text)["sentiment"] != "unknown"


def test_the_language_is_asked_only_when_vader_knows_too_few_words():
    assert analyse("I love this")["language"] is None  # a third of its words: judged
    assert analyse("The package arrived on Tuesday")["language"] == "en"


@pytest.mark.parametrize("text, level", [
    ("The worst service ever, I am furious and disgusted!", "very_negative"),
    ("This is terrible", "negative"),
    ("The package arrived on Tuesday", "neutral"),
    ("I love this", "positive"),
    ("I absolutely love it, best purchase ever!!!", "very_positive"),
])
def test_five_intensity_levels(text, level):
    assert analyse(text)["intensity"] == level


def test_sentence_offsets_slice_back_to_the_sentences():
    result = analyse(POLITE_EMAIL)

    assert [POLITE_EMAIL[s["start"]:s["end"]] for s in result["sentences"]] == [
        "Hi team, I hope you are well.", "Thank you so much for your help last month!",
        "I have to say this: the replacement arrived broken again and nobody answered my "
        "calls.", "I am furious.", "This is unacceptable.", "Best regards,", "Anna"]
    for sentence in result["sentences"]:
        text = POLITE_EMAIL[sentence["start"]:sentence["end"]]
        assert sentence["compound"] == stock_vader(text)["compound"], text


def test_offsets_count_characters_not_bytes():
    text = "Très bien 😀. Terrible."
    spans = [(s["start"], s["end"]) for s in analyse(text)["sentences"]]

    assert [text[start:end] for start, end in spans] == ["Très bien 😀.", "Terrible."]


@pytest.fixture
def vader_calls(monkeypatch):
    """The texts VADER is called with during a test."""
    analyzer = analysis._analyzer()
    calls = []
    score = analyzer.polarity_scores
    monkeypatch.setattr(analyzer, "polarity_scores", lambda text: calls.append(text) or score(text))
    return calls


def test_a_one_sentence_text_costs_one_vader_call(vader_calls):
    result = analyse("Great customer service experience!")

    assert vader_calls == ["Great customer service experience!"]
    assert result["sentences"] == [{"start": 0, "end": 34, "compound": 0.6588,
                                    "sentiment": "positive"}]


def test_each_sentence_of_a_longer_text_costs_one_call(vader_calls):
    analyse("Great food! Terrible service.")

    assert vader_calls == ["Great food! Terrible service.", "Great food!", "Terrible service."]


def test_a_sentence_vader_knows_no_word_of_costs_no_call(vader_calls):
    result = analyse("Great food! The parcel came on Monday.")

    assert vader_calls == ["Great food! The parcel came on Monday.", "Great food!"]
    assert result["sentences"][1]["compound"] == stock_vader("The parcel came on Monday.")[
        "compound"] == 0.0


def test_a_one_sentence_text_keeps_vaders_label_and_confidence():
    for compound_text in ["I love this", "This is terrible", "Meh.", "It is okay I guess"]:
        result = analyse(compound_text)
        compound = result["scores"]["compound"]
        assert result["sentiment"] == label(compound)
        assert result["confidence"] == pytest.approx(confidence(compound), abs=1e-4)
        assert result["document_score"] == compound


def check_consistent(result: dict) -> None:
    shares = result["class_scores"]
    assert sum(shares.values()) == pytest.approx(1, abs=2e-4)
    ranked = sorted(shares.values(), reverse=True)
    assert shares[result["sentiment"]] == ranked[0]
    assert result["confidence"] == pytest.approx(ranked[0] - ranked[1], abs=2e-4)
    assert result["confidence_band"] == analysis.confidence_band(result["confidence"])


def test_every_score_is_vaders_and_the_label_the_highest_class_on_real_tweets():
    texts = read_snippets(1000)
    for text in texts + [POLITE_EMAIL, MIXED_REVIEW]:
        result = analyse(text)
        assert result["scores"] == stock_vader(text), text
        for sentence in result["sentences"]:
            assert sentence["compound"] == stock_vader(
                text[sentence["start"]:sentence["end"]])["compound"], text
        if result["sentiment"] != "unknown":
            check_consistent(result)


# --- the pure rules ---

def test_class_scores_of_a_score_just_inside_positive():
    shares = analysis.class_scores(0.06, mixed=0.0)

    assert shares["positive"] == pytest.approx(0.5 + 0.5 * 0.01 / 0.95)
    assert shares["neutral"] == pytest.approx(0.5 - 0.5 * 0.01 / 0.95)
    assert shares["negative"] == shares["mixed"] == 0


def test_class_scores_of_a_slightly_negative_neutral_score():
    shares = analysis.class_scores(-0.01, mixed=0.0)

    assert shares["neutral"] == pytest.approx(0.9) and shares["negative"] == pytest.approx(0.1)


def test_mixed_takes_its_share_first():
    shares = analysis.class_scores(-1.0, mixed=0.5)

    assert shares == {"positive": 0.0, "negative": 0.5, "neutral": 0.0, "mixed": 0.5}


@pytest.mark.parametrize("compounds, weights, expected", [
    ([0.8, -0.6], [10, 10], 1.0),  # equal weights
    ([0.8, -0.6], [30, 10], 0.5),  # the weaker side a third of the stronger
    ([0.8, -0.3], [10, 10], 0.0),  # the negative sentence is not clear
    ([0.8, 0.5, 0.0], [10, 10, 10], 0.0),  # one side only
])
def test_mixed_share(compounds, weights, expected):
    assert analysis.mixed_share(weights, compounds) == pytest.approx(expected)


def test_sentence_weights_double_clearly_negative_sentences():
    assert analysis.sentence_weights([(0, 10), (11, 31), (32, 42)], [0.5, -0.4, -0.39]) == [
        10, 40, 10]


def test_a_short_texts_document_score_is_its_compound():
    text = "Fine. " * 23  # 138 characters
    assert analysis.document_score(text, 0.9, [5, 5], [0.2, 0.2]) == 0.9


def test_a_long_texts_document_score_is_the_weighted_mean_of_its_sentences():
    text = "x" * 141
    weights = analysis.sentence_weights([(0, 100), (100, 150)], [0.6, -0.5])  # 100, 100

    assert analysis.document_score(text, 0.9, weights, [0.6, -0.5]) == pytest.approx(0.05)


@pytest.mark.parametrize("score, level", [
    (-1.0, "very_negative"), (-0.75, "very_negative"), (-0.7499, "negative"),
    (-0.05, "negative"), (-0.0499, "neutral"), (0.0499, "neutral"), (0.05, "positive"),
    (0.7499, "positive"), (0.75, "very_positive"), (1.0, "very_positive"),
])
def test_intensity_levels(score, level):
    assert analysis.intensity(score) == level


@pytest.mark.parametrize("value, band", [
    (1.0, "high"), (0.6, "high"), (0.5999, "medium"), (0.3, "medium"), (0.2999, "low"), (0, "low"),
])
def test_confidence_bands(value, band):
    assert analysis.confidence_band(value) == band


def test_lexicon_coverage_counts_lexicon_words_negations_and_intensifiers():
    assert analysis.lexicon_coverage(["not", "very", "GOOD", "parcel", ":)"]) == 0.8
    assert analysis.lexicon_coverage([]) == 0.0
