"""A sink that keeps what the agent hands over, for tests to read."""

from __future__ import annotations


class Kept:
    """The agent's events, minutes and states, in order."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.minutes: list[dict] = []
        self.states: list[dict] = []

    def event(self, event: dict) -> None:
        self.events.append(event)

    def minute(self, minute: dict) -> None:
        self.minutes.append(minute)

    def state(self, state: dict) -> None:
        self.states.append(state)

    def flush(self) -> None:
        pass
