"""Supervisor event listener: every program's output on the console, each line prefixed.

JSON log lines (``LOG_FORMAT=json``) are shown as short text for the person at the console,
``12:00:01.234 INFO tasks.sentiment [request_id=… task_id=…] analysed 1 tasks``; the
programs' log files under ``DATA_DIR/log`` keep the JSON as written.
"""
import io
import json
import sys

from supervisor import childutils

NAME_WIDTH = 6


def readable(line: str) -> str:
    """A JSON log line as one or more lines of text; any other line as it is."""
    if not line.startswith("{"):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "message" not in record:
        return line
    context = " ".join(f"{field}={record[field]}" for field in ("request_id", "task_id")
                       if record.get(field))
    text = " ".join(part for part in (
        str(record.get("timestamp", ""))[11:23], str(record.get("level", "")),
        str(record.get("logger", "")), f"[{context}]" if context else "",
        str(record["message"])) if part)
    if record.get("exc_info"):
        text += "\n" + str(record["exc_info"])
    return text


class LinePrefixer:
    """Turns chunks of a program's output into whole lines prefixed with its name."""

    def __init__(self) -> None:
        self.partial: dict[str, str] = {}

    def feed(self, name: str, data: str) -> str:
        """The complete lines in `data` (and earlier partial ones), each prefixed."""
        text = self.partial.pop(name, "") + data
        lines = text.split("\n")
        if lines[-1]:
            self.partial[name] = lines[-1]
        prefix = f"{name:<{NAME_WIDTH}} | "
        return "".join(f"{prefix}{shown}\n" for line in lines[:-1]
                       for shown in readable(line).split("\n"))


def main() -> None:
    """Serve PROCESS_LOG events until supervisord closes stdin."""
    # The protocol's `len` counts characters of UTF-8 text; newline="" keeps "\r\n" two of them.
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    console = io.TextIOWrapper(sys.stderr.buffer, encoding="utf-8", errors="replace",
                               newline="")
    prefixer = LinePrefixer()
    while True:
        childutils.listener.ready(stdout)
        header_line = stdin.readline()
        if not header_line:
            return
        headers = childutils.get_headers(header_line)
        payload = stdin.read(int(headers["len"]))
        if headers["eventname"].startswith("PROCESS_LOG"):
            event, data = childutils.eventdata(payload)
            console.write(prefixer.feed(event["processname"], data))
            console.flush()
        childutils.listener.ok(stdout)


if __name__ == "__main__":
    main()
