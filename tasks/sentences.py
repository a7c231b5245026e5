"""Where the sentences of a text begin and end: a simple rule, no model and no data files.

A sentence ends
- after a run of ``.``, ``!``, ``?`` or ``…`` (with the closing quotes or brackets right after
  it) that is followed by white space, or
- at a line break: e-mail greetings, list items and signatures stand on lines of their own.

A single ``.`` after a lone letter (an initial: "J. Smith") or after ``Mr``, ``Mrs``, ``Ms``,
``Dr``, ``Prof``, ``St``, ``vs``, ``e.g`` or ``i.e`` does not end one. Each sentence's span
leaves out the white space around it, and white space alone is no sentence. Offsets count
characters (Unicode code points), as Python indexes a ``str``: ``text[start:end]`` is the
sentence. The rule errs on the side of splitting: "No. 5" ends a sentence after "No.".
"""
import re

# A run of sentence-ending marks with its closing quotes or brackets, before white space.
# Taken whole or not at all (possessive), and tried from a run's first mark only: with
# backtracking, 20,000 "!" took 3 s (each position tried every shorter run).
_SENTENCE_END = re.compile(
    r"(?<![.!?\u2026])[.!?\u2026]++[\"'\u2019\u201d)\]]*+(?=\s)|\n")
# The word before a single "." that does not end a sentence (searched up to the ".").
_ABBREVIATION = re.compile(r"(?<![\w.])(?:mrs?|ms|dr|prof|st|vs|e\.g|i\.e|[^\W\d_])\Z",
                           re.IGNORECASE)
_LONGEST_ABBREVIATION = 4


def spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each sentence of ``text``, in order."""
    found = []
    start = 0
    for end_mark in _SENTENCE_END.finditer(text):
        if end_mark.group() == "." and _ABBREVIATION.search(
                text, max(0, end_mark.start() - _LONGEST_ABBREVIATION), end_mark.start()):
            continue
        _add_trimmed(text, start, end_mark.end(), found)
        start = end_mark.end()
    _add_trimmed(text, start, len(text), found)
    return found


def _add_trimmed(text: str, start: int, end: int, found: list) -> None:
    """Append ``text[start:end]`` without its surrounding white space, unless nothing is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        start += len(piece) - len(piece.lstrip())
        found.append((start, start + len(stripped)))
