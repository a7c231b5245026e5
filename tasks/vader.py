"""VADER, the same scores for less CPU: four shortcuts, each exact, nothing else touched.

``vaderSentiment`` 3.3.2 spends about 40% of ``polarity_scores`` on work whose result is
known without doing it:

- Emoji: it rebuilds the text one character at a time to replace emoji with their
  descriptions. Only single characters can match its emoji table, so a text with none of
  them comes out of that loop as it went in; such a text skips the loop. A text with one
  goes through VADER's own code.
- Negation: for each sentiment word and each of the three words before it, it lowercases
  every token of the text and compares one of them against each negation word in a list,
  which makes a text's cost grow with the square of its length. Here only the tokens the
  rule reads are lowercased, and the negation words are a set.
- Idioms: for a sentiment word after three it does not know, it lowercases every token of
  the text to read the six around that word: a text built of such words cost seconds
  (20,000 characters of "x y z good" took 0.4 s, of emoji 6 s). Here only those six are
  handed to VADER's own check.
- Words it does not know: ``sentiment_valence`` gives them 0 after a method call and a
  lookup; the loop that calls it now appends the 0 itself.

Everything else is VADER's code, called as it is. ``tests/test_vader.py`` compares this
class with the stock ``SentimentIntensityAnalyzer`` on all 23,703 snippets of the VADER
paper's data, on each of their sentences, and on generated texts full of negations,
idioms, emoji, capitals and punctuation: every score is equal.
"""
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
    SentiText,
)

NEGATION_WORDS = frozenset(NEGATE)


def _negated(word: str) -> bool:
    """``vaderSentiment.negated([word])`` for one lowercased word."""
    return word in NEGATION_WORDS or "n't" in word


class FasterVader(SentimentIntensityAnalyzer):
    """``SentimentIntensityAnalyzer`` with the same results; see the module's docstring."""

    def __init__(self):
        super().__init__()
        self._emoji_characters = frozenset(key for key in self.emojis if len(key) == 1)

    def polarity_scores(self, text):
        if not self._emoji_characters.isdisjoint(text):
            return super().polarity_scores(text)
        # From here on, VADER's own polarity_scores after its emoji loop, unchanged.
        text = text.strip()
        sentitext = SentiText(text)
        sentiments = []
        words_and_emoticons = sentitext.words_and_emoticons
        for i, item in enumerate(words_and_emoticons):
            valence = 0
            lowered = item.lower()
            if lowered in BOOSTER_DICT:
                sentiments.append(valence)
                continue
            if (i < len(words_and_emoticons) - 1 and lowered == "kind" and
                    words_and_emoticons[i + 1].lower() == "of"):
                sentiments.append(valence)
                continue
            if lowered not in self.lexicon:  # all sentiment_valence does for such a word
                sentiments.append(valence)
                continue
            sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        return self.score_valence(sentiments, text)

    @staticmethod
    def _special_idioms_check(valence, words_and_emoticons, i):
        # VADER's check reads the words from i - 3 to i + 2, and i + 1 and i + 2 only where
        # the text has them: the same as the slice has them, with i at 3. VADER calls it
        # with i above 2; below, its negative indexes read from the text's end.
        if i < 3:
            return SentimentIntensityAnalyzer._special_idioms_check(
                valence, words_and_emoticons, i)
        return SentimentIntensityAnalyzer._special_idioms_check(
            valence, words_and_emoticons[i - 3:i + 3], 3)

    @staticmethod
    def _negation_check(valence, words_and_emoticons, start_i, i):
        def lower(k: int) -> str:
            return str(words_and_emoticons[k]).lower()

        if start_i == 0:
            if _negated(lower(i - 1)):
                valence = valence * N_SCALAR
        if start_i == 1:
            if lower(i - 2) == "never" and lower(i - 1) in ("so", "this"):
                valence = valence * 1.25
            elif lower(i - 2) == "without" and lower(i - 1) == "doubt":
                pass
            elif _negated(lower(i - 2)):
                valence = valence * N_SCALAR
        if start_i == 2:
            if (lower(i - 3) == "never" and lower(i - 2) in ("so", "this")
                    or lower(i - 1) in ("so", "this")):
                valence = valence * 1.25
            elif lower(i - 3) == "without" and (lower(i - 2) == "doubt"
                                                or lower(i - 1) == "doubt"):
                pass
            elif _negated(lower(i - 3)):
                valence = valence * N_SCALAR
        return valence
