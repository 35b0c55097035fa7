"""From what the sensors see to what the nerves feel: posture, movement, seat features and
the pressure at each nerve site, once a second.

Core code: numpy only, no I/O; time comes from the frames' arrival times.
"""
