"""What became of each nudge: acknowledged, snoozed, and whether the person moved in time.

Owns the follow-up of alerts for the log. An alert is followed for the lead time
(`[policy] lead_time_s`, the warning the person was promised); then one `outcome`
event closes it. A numbness alert counts as answered by a move when the posture
changes or the person gets up; a break reminder when the person gets up. The response
time is from the alert to the first answer: the move, or else the button. A move counts
as "in time" only before the numbness the alert predicted: an alert that said the leg is
numb already cannot be answered in time, only answered. Pure:
seconds and commands in, outcome events out, on the data's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AlertOutcomes"]


@dataclass(slots=True)
class _Followed:
    alert_id: str
    kind: str
    t: float
    posture: str
    deadline_s: float  # after the alert: the predicted numbness, or the lead time
    moved_t: float | None = None
    acked_t: float | None = None
    snoozed_t: float | None = None


class AlertOutcomes:
    """Alerts being followed, oldest first."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._followed: list[_Followed] = []

    def __bool__(self) -> bool:
        return bool(self._followed)

    def alert(self, event: dict[str, Any]) -> None:
        ahead = event.get("time_to_numbness_s")
        deadline = self.window_s if ahead is None else min(float(ahead), self.window_s)
        self._followed.append(_Followed(event["id"], event["kind"], event["t"], event["posture"],
                                        deadline))

    def command(self, kind: str, t: float, alert_id: str | None) -> None:
        """A button pressed: for the named alert, or (no id) every one being followed."""
        for item in self._followed:
            if alert_id is not None and item.alert_id != alert_id:
                continue
            if kind == "ack" and item.acked_t is None:
                item.acked_t = t
            elif kind == "snooze" and item.snoozed_t is None:
                item.snoozed_t = t

    def second(self, t: float, posture: str, seated: bool) -> list[dict[str, Any]]:
        """Note a move this second; outcome events for alerts whose time is up."""
        out = []
        for item in self._followed:
            if item.moved_t is None and t > item.t and (
                    not seated or (item.kind == "numbness" and posture != item.posture)):
                item.moved_t = t
        while self._followed and t - self._followed[0].t >= self.window_s:
            out.append(self._outcome(self._followed.pop(0), t))
        return out

    def finish(self, t: float) -> list[dict[str, Any]]:
        """Close every alert still followed (the agent stops): what was seen so far."""
        out = [self._outcome(item, t) for item in self._followed]
        self._followed.clear()
        return out

    def _outcome(self, item: _Followed, t: float) -> dict[str, Any]:
        moved = item.moved_t is not None and item.moved_t - item.t <= item.deadline_s
        answers = [(when, name) for when, name in ((item.moved_t if moved else None, "moved"),
                                                   (item.acked_t, "ack"),
                                                   (item.snoozed_t, "snooze"))
                   if when is not None]
        first = min(answers) if answers else None
        if moved:
            first = (item.moved_t, "moved")
        return {"t": round(t, 3), "event": "outcome", "alert_id": item.alert_id,
                "kind": item.kind, "acknowledged": item.acked_t is not None,
                "snoozed": item.snoozed_t is not None, "moved": moved,
                "response_s": None if first is None else round(first[0] - item.t, 1),
                "responded": None if first is None else first[1]}
