"""The nudging policy as a pure state machine: seconds in, alerts and break events out."""

from __future__ import annotations

import dataclasses
import math

import pytest

from edge.config import PolicyConfig
from edge.estimate.labels import SITES
from edge.policy import Command, Policy, Second, numbness_message

INF = math.inf
PERONEAL_LEFT = SITES.index("peroneal_left")


def ttn(seconds: float, site: int = PERONEAL_LEFT) -> tuple[float, ...]:
    values = [INF] * len(SITES)
    values[site] = seconds
    return tuple(values)


def run(policy: Policy, seconds: list[Second]) -> list[dict]:
    out = []
    for second in seconds:
        out += policy.step(second)
    return out


def crossed(t: float, soon: float, **kw) -> Second:
    return Second(t, "crossed_left_over_right", True, ttn(soon), **kw)


def upright(t: float) -> Second:
    return Second(t, "upright", True, ttn(INF))


def standing(t: float) -> Second:
    return Second(t, "standing", False, ttn(INF))


def alerts(events: list[dict], kind: str = "numbness") -> list[dict]:
    return [e for e in events if e["event"] == "alert" and e["kind"] == kind]


def test_one_episode_gives_one_alert_naming_site_posture_and_time():
    policy = Policy(PolicyConfig(), id_prefix="run1")
    # Time to numbness falls by 2 s every second, then the person uncrosses.
    seconds = [crossed(t, 600 - 2 * t) for t in range(260)]
    seconds += [upright(t) for t in range(260, 400)]
    [alert] = alerts(run(policy, seconds))
    # The first second at which waiting one more second would leave less than the 180 s
    # lead time: the alert always comes at least the lead time before the numbness.
    assert alert == {"t": 210, "event": "alert", "id": "run1-1", "kind": "numbness",
                     "site": "peroneal_left", "posture": "crossed_left_over_right",
                     "time_to_numbness_s": 180.0,
                     "message": "Uncross your legs: your left leg may fall asleep in about "
                                "3 min.", "reminder": 0, "numb": False}


def test_hysteresis_a_flickering_prediction_does_not_re_alert():
    policy = Policy(PolicyConfig(), id_prefix="p")
    seconds = [crossed(t, 175 if t % 2 else 190) for t in range(120)]
    assert len(alerts(run(policy, seconds))) == 1


def test_repeat_when_ignored_but_not_once_acknowledged():
    config = PolicyConfig(repeat_after_s=60.0, worse_s=10.0, max_reminders=5)
    ignored = Policy(config, id_prefix="a")
    said = alerts(run(ignored, [crossed(t, 150) for t in range(200)]))
    assert [a["t"] for a in said] == [0, 60, 120, 180]
    assert [a["reminder"] for a in said] == [0, 1, 2, 3]

    acknowledged = Policy(config, id_prefix="b")
    out = run(acknowledged, [crossed(0, 150)])
    acknowledged.command(Command("ack", 1, alert_id=out[0]["id"]))
    assert alerts(run(acknowledged, [crossed(t, 150) for t in range(1, 200)])) == []


def test_one_repeat_when_it_gets_worse_even_after_an_acknowledgement():
    policy = Policy(PolicyConfig(), id_prefix="w")
    first = run(policy, [crossed(0, 170)])
    policy.command(Command("ack", 1, alert_id=first[0]["id"]))
    later = alerts(run(policy, [crossed(t, 170 - t) for t in range(1, 170)]))
    assert [a["t"] for a in later] == [110]  # 60 s left: worse_s
    assert later[0]["time_to_numbness_s"] == 60.0


def test_cooldown_after_an_episode():
    policy = Policy(PolicyConfig(), id_prefix="c")
    seconds = [crossed(t, 150) for t in range(5)]
    seconds += [upright(t) for t in range(5, 40)]  # clear for 35 s > rearm_hold_s: episode ends
    seconds += [crossed(t, 150) for t in range(40, 200)]  # again, inside the 120 s cooldown
    times = [a["t"] for a in alerts(run(policy, seconds))]
    assert times[0] == 0
    assert times[1] >= 5 + 20 + 120 - 1  # only once the cooldown has passed


def test_break_reminder_after_continuous_sitting_and_natural_breaks():
    policy = Policy(PolicyConfig(), id_prefix="b")
    minute = 60
    seconds = [upright(t) for t in range(30 * minute)]
    seconds += [standing(t) for t in range(30 * minute, 31 * minute)]  # 1 min: not a break
    seconds += [upright(t) for t in range(31 * minute, 50 * minute)]
    events = run(policy, seconds)
    [reminder] = alerts(events, "break")
    assert reminder["t"] == 45 * minute and reminder["site"] is None
    assert reminder["time_to_numbness_s"] is None
    assert not [e for e in events if e["event"] == "break"]

    policy = Policy(PolicyConfig(), id_prefix="n")
    seconds = [upright(t) for t in range(40 * minute)]
    seconds += [standing(t) for t in range(40 * minute, 43 * minute)]  # a natural break
    seconds += [upright(t) for t in range(43 * minute, 80 * minute)]
    events = run(policy, seconds)
    assert [(e["phase"], e["t"]) for e in events if e["event"] == "break"] == [
        ("start", 42 * minute), ("end", 43 * minute)]
    assert alerts(events, "break") == []  # 37 min since the break: not yet


def test_sitting_since_and_the_last_break_follow_the_natural_break_rule():
    policy = Policy(PolicyConfig(natural_break_min=2.0), id_prefix="s")
    assert (policy.sitting_since, policy.last_break) == (None, None)
    run(policy, [standing(t) for t in range(10)])  # not seated yet
    assert (policy.sitting_since, policy.last_break) == (None, None)
    run(policy, [upright(t) for t in range(10, 600)])
    assert policy.sitting_since == 10
    run(policy, [standing(t) for t in range(600, 660)])  # 1 min up: not a break
    assert policy.sitting_since is None and policy.last_break is None
    run(policy, [upright(t) for t in range(660, 1200)])
    assert policy.sitting_since == 10  # the short stand-up did not reset it
    # A sensor gap changes nothing, even one that looks like getting up.
    run(policy, [Second(t, "empty", False, ttn(INF), trusted=False) for t in range(1200, 1500)])
    assert policy.sitting_since == 10 and policy.last_break is None
    events = run(policy, [standing(t) for t in range(1500, 1700)])
    [started] = [e for e in events if e["event"] == "break"]
    # The break began when the person got up, not when it was recognised 2 min later.
    assert started["t"] == 1620 and policy.last_break == (1500, None)
    assert policy.sitting_since is None
    events = run(policy, [upright(t) for t in range(1700, 1800)])
    assert [e["t"] for e in events if e["event"] == "break"] == [1700]
    assert policy.last_break == (1500, 1700) and policy.sitting_since == 1700
    run(policy, [standing(t) for t in range(1800, 1830)] + [upright(t) for t in range(1830, 1900)])
    assert policy.last_break == (1500, 1700) and policy.sitting_since == 1700


def test_break_reminder_repeats_while_the_person_keeps_sitting():
    policy = Policy(PolicyConfig(), id_prefix="r")
    events = run(policy, [upright(t) for t in range(70 * 60)])
    assert [a["t"] for a in alerts(events, "break")] == [45 * 60, 60 * 60]


def test_snooze_holds_alerts_until_it_ends():
    policy = Policy(PolicyConfig(), id_prefix="s")
    policy.command(Command("snooze", 0, minutes=2))
    times = [a["t"] for a in alerts(run(policy, [crossed(t, 150) for t in range(200)]))]
    assert times == [120]


def test_snooze_is_capped():
    policy = Policy(PolicyConfig(snooze_max_min=1.0), id_prefix="s")
    policy.command(Command("snooze", 0, minutes=600))
    assert alerts(run(policy, [crossed(t, 150) for t in range(100)]))[0]["t"] == 60


def test_quiet_hours_wrap_past_midnight():
    config = PolicyConfig(quiet_start="22:30", quiet_end="07:00")
    policy = Policy(config, id_prefix="q")
    night = [crossed(t, 150, local_minute=23 * 60) for t in range(30)]
    morning = [crossed(t, 150, local_minute=7 * 60 + 1) for t in range(30, 40)]
    assert [a["t"] for a in alerts(run(policy, night + morning))] == [30]


def test_seconds_in_a_sensor_gap_change_nothing():
    policy = Policy(PolicyConfig(), id_prefix="g")
    gap = [crossed(t, 0, trusted=False) for t in range(100)]
    assert run(policy, gap) == []


def test_ids_are_unique_and_replay_deterministic():
    def events() -> list[dict]:
        policy = Policy(PolicyConfig(repeat_after_s=30, max_reminders=3), id_prefix="trace-x")
        return run(policy, [crossed(t, 150) for t in range(100)])

    first, second = events(), events()
    assert first == second
    ids = [e["id"] for e in first]
    assert len(ids) == len(set(ids)) == 4


@pytest.mark.parametrize("site, posture, start", [
    ("peroneal_right", "crossed_right_over_left", "Uncross your legs: your right leg"),
    ("sciatic_left", "slouched", "Shift your weight or stand up: your left leg"),
    ("peroneal_left", "foot_under_left", "Untuck your left foot: your left leg"),
])
def test_messages_say_what_to_do(site, posture, start):
    assert numbness_message(site, posture, 170).startswith(start)
    assert numbness_message(site, posture, 170).endswith("in about 3 min.")
    assert numbness_message(site, posture, 10).endswith("now.")


def test_bad_command_and_settings_are_refused():
    policy = Policy(PolicyConfig(), id_prefix="x")
    with pytest.raises(ValueError, match="ack, snooze, pause, resume"):
        policy.command(Command("reboot", 0))
    with pytest.raises(ValueError):
        dataclasses.replace(PolicyConfig(), worse_s=500.0)


def test_reminders_stop_after_max_reminders_for_that_episode():
    """Workrave's and Stretchly's habit: remind, remind again, then let the person be."""
    config = PolicyConfig(repeat_after_s=60.0, worse_s=10.0)  # max_reminders = 2
    policy = Policy(config, id_prefix="m")
    episode = alerts(run(policy, [crossed(t, 150) for t in range(600)]))
    assert [a["t"] for a in episode] == [0, 60, 120]
    assert [a["reminder"] for a in episode] == [0, 1, 2]
    # Worse (under worse_s) is a reminder too, and there are none left.
    assert alerts(run(policy, [crossed(t, 5) for t in range(600, 700)])) == []
    # A new episode (after it cleared and the cooldown) starts counting afresh.
    run(policy, [upright(t) for t in range(700, 760)])
    again = alerts(run(policy, [crossed(t, 150) for t in range(900, 1000)]))
    assert [a["reminder"] for a in again] == [0, 1]

    never = Policy(dataclasses.replace(config, max_reminders=0), id_prefix="n")
    assert len(alerts(run(never, [crossed(t, 150) for t in range(600)]))) == 1


def test_a_leg_numb_already_is_told_so_and_told_what_is_safe():
    policy = Policy(PolicyConfig(), id_prefix="z")
    [alert] = alerts(run(policy, [crossed(0, 0.0)]))
    assert alert["numb"] is True and alert["time_to_numbness_s"] == 0.0
    message = alert["message"]
    assert "left leg is probably numb now" in message
    assert "gently" in message and "before you stand up" in message
    assert "numb now" not in numbness_message("peroneal_left", "upright", 90)


def test_pause_holds_every_alert_until_it_ends_or_is_resumed():
    policy = Policy(PolicyConfig(break_after_min=5), id_prefix="p")
    policy.command(Command("pause", 0, minutes=2))
    assert policy.paused_until == 120
    times = [a["t"] for a in alerts(run(policy, [crossed(t, 150) for t in range(200)]))]
    assert times == [120]
    assert policy.paused_until is None  # ran out

    forever = Policy(PolicyConfig(break_after_min=5), id_prefix="f")
    forever.command(Command("pause", 0))
    assert forever.paused_until == INF
    events = run(forever, [crossed(t, 150) for t in range(600)])
    assert [e for e in events if e["event"] == "alert"] == []  # no numbness, no break
    forever.command(Command("resume", 600))
    assert forever.paused_until is None
    assert alerts(run(forever, [crossed(t, 150) for t in range(600, 610)]))[0]["t"] == 600


def test_an_acknowledgement_without_an_id_is_for_the_newest_alert():
    config = PolicyConfig(repeat_after_s=60.0, worse_s=10.0)
    policy = Policy(config, id_prefix="k")
    out = run(policy, [crossed(0, 150)])
    assert policy.newest_open_alert_id == out[0]["id"]
    policy.command(Command("ack", 1))
    assert policy.newest_open_alert_id is None
    assert alerts(run(policy, [crossed(t, 150) for t in range(1, 200)])) == []


def test_an_acknowledgement_without_an_id_skips_an_alert_already_answered():
    """A break reminder, then a numbness alert: {} acknowledges the numbness alert, the
    next {} the break reminder, still open, and a third finds nothing open."""
    policy = Policy(PolicyConfig(break_after_min=5, repeat_after_s=600, worse_s=5),
                    id_prefix="o")
    [reminder] = alerts(run(policy, [upright(t) for t in range(301)]), "break")
    [numbness] = alerts(run(policy, [crossed(t, 150) for t in range(301, 310)]))
    assert policy.newest_open_alert_id == numbness["id"]
    policy.command(Command("ack", 310))
    assert policy.newest_open_alert_id == reminder["id"]
    policy.command(Command("ack", 311))
    assert policy.newest_open_alert_id is None
    assert alerts(run(policy, [crossed(t, 150) for t in range(311, 600)])) == []


def test_a_leg_gone_numb_is_told_so_even_after_the_last_reminder():
    policy = Policy(PolicyConfig(repeat_after_s=60.0, worse_s=10.0), id_prefix="r")
    said = alerts(run(policy, [crossed(t, 150) for t in range(200)]))
    assert [a["reminder"] for a in said] == [0, 1, 2]  # the budget is spent
    numb = alerts(run(policy, [crossed(t, 0.0) for t in range(200, 400)]))
    assert len(numb) == 1 and numb[0]["numb"] and "numb now" in numb[0]["message"]


def test_a_tie_between_the_legs_names_the_leg_the_posture_puts_at_risk():
    """Without the thigh units a crossing loads both peroneal nerves alike: the alert names
    the leg the posture has on top."""
    both = [INF] * len(SITES)
    both[SITES.index("peroneal_left")] = both[SITES.index("peroneal_right")] = 150.0
    policy = Policy(PolicyConfig(), id_prefix="t")
    [alert] = alerts(run(policy, [Second(0, "crossed_right_over_left", True, tuple(both))]))
    assert alert["site"] == "peroneal_right" and "your right leg" in alert["message"]
