"""The one server-sent-events parser the tests read our streams with."""

from __future__ import annotations

Event = tuple[str | None, str]


def parse_events(buffer: str) -> tuple[list[Event], str]:
    """The complete (event, data) pairs at the start of ``buffer``, and the unfinished rest."""
    events = []
    while "\n\n" in buffer:
        block, buffer = buffer.split("\n\n", 1)
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events, buffer


def sse_events(text: str) -> list[Event]:
    """Every (event, data) pair of a whole SSE body."""
    events, _ = parse_events(text.strip() + "\n\n")
    return events
