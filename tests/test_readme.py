"""The README's tables say what the code does: every setting and every error code."""
import re

import pytest

import settings
from app.errors import CODES, TASK_ERROR_CODES
from conftest import ROOT

README = (ROOT / "README.md").read_text()


def table_after(marker: str) -> dict[str, list[str]]:
    """The rows of the Markdown table that follows ``marker``, keyed by their first cell."""
    lines = README.split(marker, 1)[1].splitlines()[1:]  # past the marker comment
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_setting_is_in_the_configuration_table_with_its_default():
    rows = table_after("<!-- settings:")
    assert set(rows) == {s.name for s in settings.SETTINGS}
    for setting in settings.SETTINGS:
        expected = f"`{setting.default}`" if setting.default else "(unset)"
        assert rows[setting.name][0] == expected, setting.name


def test_every_error_code_is_in_the_error_table_with_its_status():
    rows = table_after("<!-- error-codes:")
    assert set(rows) == set(CODES) | set(TASK_ERROR_CODES)
    for error in CODES.values():
        assert rows[error.code][0] == str(error.status), error.code


@pytest.mark.parametrize("target", ["run", "test", "install", "lint", "bench"])
def test_the_makefile_lists_the_targets_the_readme_names(target):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}:.*## ", makefile, re.M)
    assert f"`{target}`" in README or f"make {target}" in README
