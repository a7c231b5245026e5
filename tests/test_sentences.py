"""The sentence rule: where a text's sentences begin and end."""
import pytest

from tasks.sentences import spans


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
