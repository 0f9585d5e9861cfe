"""What runs inside the jail (`python -m podtap.client.jail`): the network, DNS and mounts
the developer's command sees, and the command itself. It reaches the outside only through
the bridge (podtap/client/bridge.py) and never imports the host side (podtap/client/host)."""
