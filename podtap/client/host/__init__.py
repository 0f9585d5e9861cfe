"""What `podtap exec` (and `port-forward`, `session`) run on the developer's machine: the
operator API and the session channel, the jail's start and its bridge's host end, the
delivery of stolen traffic, files and reconnection. It speaks to the jail only through the
bridge's messages (podtap/client/bridge.py) and never imports the jail side."""
