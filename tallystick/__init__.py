"""Tallystick: community-owned mutual credit as a signed, replicated event log."""
