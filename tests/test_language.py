"""Language detection with CLD2: reliable answers only, ``und`` otherwise."""
import pytest

from tasks.language import detect


@pytest.mark.parametrize("text, code", [
    ("Das ist ein sehr schlechter Service", "de"),
    ("Muy mal servicio, estoy enojado", "es"),
    ("The package arrived on Tuesday", "en"),
    ("Boy oh boy, it's a howler.", "en"),  # CLD2 says Scots: informal English
])
def test_reliable_languages(text, code):
    assert detect(text) == code


@pytest.mark.parametrize("text", ["Je suis très content", "wow", "", "12345"])
def test_too_little_text_is_undetermined(text):
    assert detect(text) == "und"


@pytest.mark.parametrize("text", ["Das ist ein \x07 sehr schlechter Service", "bad \ud800 text"])
def test_text_cld2_cannot_read_is_undetermined(text):
    assert detect(text) == "und"
