"""Supervisor event listener: every program's output on the console, each line prefixed."""
import io
import sys

from supervisor import childutils

NAME_WIDTH = 6


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
        return "".join(f"{prefix}{line}\n" for line in lines[:-1])


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
