"""Which mount points are a container's own volumes (pure parsing of mountinfo)."""

from __future__ import annotations

from podtap.net.mounts import own_mounts

HOST = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:6 / /dev rw - devtmpfs devtmpfs rw
"""
POD = """\
150 140 254:0 / / rw,relatime - ext4 /dev/vda rw
151 150 0:5 / /proc rw - proc proc rw
152 150 0:6 / /dev rw - devtmpfs devtmpfs rw
153 150 0:40 / /etc rw - overlay overlay rw,lowerdir=/etc
154 153 254:0 /state/pods/p/hostname /etc/hostname rw - ext4 /dev/vda rw
155 153 254:0 /state/pods/p/volumes/config /etc/shop/config ro - ext4 /dev/vda rw
156 150 0:41 / /var/run/secrets/kubernetes.io/serviceaccount ro - tmpfs tmpfs ro
157 150 0:42 / /my\\040dir ro - tmpfs tmpfs ro
"""


def test_own_mounts_skip_inherited_overlays_and_kernel_filesystems() -> None:
    assert own_mounts(POD, host_mountinfo=HOST) == [
        "/etc/hostname",
        "/etc/shop/config",
        "/my dir",
        "/var/run/secrets/kubernetes.io/serviceaccount",
    ]
