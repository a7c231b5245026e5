"""Which language a text is in, by Google's Compact Language Detector 2 (pycld2).

CLD2 ships its tables in the wheel (no download), reads a tweet in about 5 µs, and says when
it cannot tell: short texts ("Je suis très content", "wow") get no reliable answer. Then the
answer is ``und`` (undetermined, as in BCP 47), and the analysis falls back on how many of
the text's words VADER knows.

CLD2 names some informal English Scots (``sco``): 5 of the 23,703 English snippets of the
VADER paper's data, such as "Boy oh boy, it's a howler.". Scots counts as English here.
"""
import pycld2

ENGLISH = "en"
UNDETERMINED = "und"
_READ_AS_ENGLISH = frozenset({"en", "sco"})
_NO_LANGUAGE = frozenset({"un", "xxx"})


def detect(text: str) -> str:
    """The code of the language CLD2 reliably finds in ``text``, or ``und``."""
    try:
        reliable, _, languages = pycld2.detect(text)
    except (pycld2.error, UnicodeEncodeError):  # control characters, lone surrogates
        return UNDETERMINED
    code = languages[0][1]
    if not reliable or code in _NO_LANGUAGE:
        return UNDETERMINED
    return ENGLISH if code in _READ_AS_ENGLISH else code
