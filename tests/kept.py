"""A sink that keeps what the agent hands over, for tests to read."""

from __future__ import annotations


class Kept:
    """The agent's events and minutes, in order; states are not kept."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.minutes: list[dict] = []

    def event(self, event: dict) -> None:
        self.events.append(event)

    def minute(self, minute: dict) -> None:
        self.minutes.append(minute)

    def state(self, state: dict) -> None:
        pass

    def flush(self) -> None:
        pass
