"""Warm standby recorders: started ahead of need, idle until a takeover hands them a session."""
