"""The estimator's vocabulary: posture labels and nerve sites, in their fixed order.

Arrays carry postures as indices into POSTURES and site pressures as columns in
SITES order; the names appear only at the edges (events, MQTT, the log).
"""

from __future__ import annotations

POSTURES = ("empty", "upright", "leaning_left", "leaning_right", "slouched",
            "crossed_left_over_right", "crossed_right_over_left", "foot_under_left",
            "foot_under_right", "standing")
POSTURE_INDEX = {name: i for i, name in enumerate(POSTURES)}
SEATED = frozenset(POSTURES) - {"empty", "standing"}
CROSSED = frozenset({"crossed_left_over_right", "crossed_right_over_left"})

SITES = ("sciatic_left", "sciatic_right", "thigh_left", "thigh_right", "peroneal_left",
         "peroneal_right")
SITE_INDEX = {name: i for i, name in enumerate(SITES)}
LEGS = ("left", "right")
LEG_SITES = {leg: tuple(i for i, site in enumerate(SITES) if site.endswith(f"_{leg}"))
             for leg in LEGS}
"""Each leg's sites (sciatic, thigh, peroneal), as indices into SITES."""
