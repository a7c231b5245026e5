"""``tasks.vader.FasterVader`` gives exactly the stock ``SentimentIntensityAnalyzer``'s scores."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SPECIAL_CASES, SentimentIntensityAnalyzer

from conftest import read_snippets
from tasks import sentences
from tasks.vader import FasterVader

STOCK, FASTER = SentimentIntensityAnalyzer(), FasterVader()
DATA_SETS = ("tweets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt",
             "amazonReviewSnippets_GroundTruth.txt", "nytEditorialSnippets_GroundTruth.txt")

# Tokens that exercise every rule the shortcuts sit beside: negations (and "n't"), "no"
# before a sentiment word, "never so", "without doubt", "least", "kind of", boosters,
# idioms and special cases, "but", capitals, emoticons, emoji, punctuation emphasis, and
# words VADER does not know.
TOKENS = ("good", "GOOD", "bad", "BAD", "love", "hate", "great", "terrible", "okay", "nice",
          "not", "isn't", "wasn't", "never", "no", "nor", "or", "without", "doubt", "least",
          "at", "very", "kind", "of", "so", "this", "extremely", "barely", "really", "but",
          "BUT", "the", "service", "parcel", "cut", "mustard", "bomb", "shit", "ass", ":)",
          ":(", ":D", "<3", "😀", "💔", "🙂", "!", "!!!", "?", "??", ".", "...", ",",
          "Tuesday", "XYZ", "aint", "don't", "cannot", "\n")


def assert_same_scores(text: str) -> None:
    assert FASTER.polarity_scores(text) == STOCK.polarity_scores(text), text


@pytest.mark.parametrize("name", DATA_SETS)
def test_every_snippet_and_every_sentence_scores_the_same(name):
    for text in read_snippets(name=name):
        assert_same_scores(text)
        for start, end in sentences.spans(text):
            assert_same_scores(text[start:end])


@pytest.mark.parametrize("text", [*SPECIAL_CASES, "", "   ", "😀", "I love it 😀!!",
                                  "The food was not bad at all, kind of great actually."])
def test_edge_cases_score_the_same(text):
    assert_same_scores(text)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from((" ", "")))
def test_generated_texts_score_the_same(tokens, separator):
    assert_same_scores(separator.join(tokens))


class CountedWord(str):
    """A token that counts how often it is lowercased."""

    lowered = 0

    def __str__(self):  # VADER lowercases str(token)
        return self

    def lower(self):
        CountedWord.lowered += 1
        return str.lower(self)


def test_an_idiom_check_lowercases_the_words_it_reads_not_the_whole_text():
    # VADER's own check lowercased every token of the text for each sentiment word after
    # three unknown ones: 20,000 characters of them took 0.4 s, of emoji 6 s.
    words = [CountedWord(word) for word in ("x y z good " * 2000).split()]
    CountedWord.lowered = 0
    FASTER._special_idioms_check(0.0, words, 4003)
    assert 0 < CountedWord.lowered <= 6


@pytest.mark.parametrize("text", ["x y z good " * 300, "😀 " * 300, "cut the mustard " * 300])
def test_long_texts_of_idioms_score_the_same(text):
    assert_same_scores(text)
