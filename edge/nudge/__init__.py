"""Nudges that reach the person: the buzz on the thigh (haptic) and push notifications."""

from __future__ import annotations

from typing import Any


class AlertChannel:
    """A sink of the agent (edge.agent.Sink) that takes events only, for their alerts: the
    minutes, the states and the flush are not its business."""

    def event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def minute(self, minute: dict[str, Any]) -> None:
        pass

    def state(self, state: dict[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass
