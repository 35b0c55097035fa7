"""Nudges that reach the person: the buzz on the thigh (haptic) and push notifications."""
