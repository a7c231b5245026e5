"""Read a Procfile: one `name: command` line per process."""
import re
from pathlib import Path

# Foreman's rule for process names; anything else would also be an invalid supervisor section.
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>\S.*)$")


class ProcfileError(ValueError):
    """A Procfile line that is neither blank, a comment, nor `name: command`."""


def parse(text: str) -> list[tuple[str, str]]:
    """The `(name, command)` pairs of a Procfile's text, in file order."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise ProcfileError(f"Procfile line {number} is not `name: command`: {line!r}")
        entries.append((match["name"], match["command"].strip()))
    names = [name for name, _ in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ProcfileError(f"Procfile names a process twice: {', '.join(duplicates)}")
    return entries


def read(path: Path) -> list[tuple[str, str]]:
    """The `(name, command)` pairs of the Procfile at `path`."""
    return parse(Path(path).read_text(encoding="utf-8"))
