"""The sentence rule: where a text's sentences begin and end."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import sentences as rule
from tasks.sentences import spans

# The rule's sentence ends as first written, with a backtracking run of marks.
BACKTRACKING_END = re.compile(r"[.!?\u2026]+[\"'\u2019\u201d)\]]*(?=\s)|\n")


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in spans(text)]


@pytest.mark.parametrize("text, expected", [
    ("Yay. Another good phone interview.", ["Yay.", "Another good phone interview."]),
    ("Great food! Terrible service?! Never again...",
     ["Great food!", "Terrible service?!", "Never again..."]),
    ("Wait… what", ["Wait…", "what"]),
    ('He said "great!" and left.', ['He said "great!"', "and left."]),
    ("It costs 20.5 dollars.", ["It costs 20.5 dollars."]),  # no white space after the dot
    ("one sentence without a mark", ["one sentence without a mark"]),
])
def test_marks_followed_by_white_space_end_a_sentence(text, expected):
    assert sentences(text) == expected


def test_a_line_break_ends_a_sentence():
    email = "Hi team,\nThe parcel is late.\n\nBest regards,\nAnna\n"

    assert sentences(email) == ["Hi team,", "The parcel is late.", "Best regards,", "Anna"]


@pytest.mark.parametrize("text, expected", [
    ("Mr. Smith met Dr. Who. Then they left.", ["Mr. Smith met Dr. Who.", "Then they left."]),
    ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
    ("Bring snacks, e.g. fruit. Thanks.", ["Bring snacks, e.g. fruit.", "Thanks."]),
    ("The last stop is Adr. Next one.", ["The last stop is Adr.", "Next one."]),
])
def test_abbreviations_and_initials_do_not_end_a_sentence(text, expected):
    assert sentences(text) == expected


def test_spans_leave_out_the_white_space_around_each_sentence():
    assert spans("  Hello there.   Bye.  ") == [(2, 14), (17, 21)]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_white_space_alone_has_no_sentence(text):
    assert spans(text) == []


def test_offsets_are_character_indexes():
    text = "😀 Très bien. Super!"

    assert spans(text) == [(0, 12), (13, 19)]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=".!?\u2026\"')\u201d \na", max_size=40))
def test_the_run_of_marks_finds_the_ends_the_backtracking_one_found(text):
    assert ([m.span() for m in rule._SENTENCE_END.finditer(text)]
            == [m.span() for m in BACKTRACKING_END.finditer(text)])


def test_a_run_of_marks_is_tried_from_its_first_mark_only():
    # What keeps a long run linear: no attempt starts inside it.
    assert rule._SENTENCE_END.match("!!! x", 1) is None
    assert rule._SENTENCE_END.match("!!! x", 0).group() == "!!!"


def test_a_long_run_of_marks_is_one_sentence():
    # With backtracking, each position of the run tried every shorter run: 20,000 marks
    # took 3 s.
    assert sentences("!" * 20_000) == ["!" * 20_000]
    assert sentences("Wow" + "!" * 20_000 + " ok") == ["Wow" + "!" * 20_000, "ok"]
