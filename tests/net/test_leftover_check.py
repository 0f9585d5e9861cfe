"""The leftover check of cluster fixtures: what the first `ip netns add` on a machine mounts
once for good (/run/netns itself) is no leftover; a namespace left mounted there is."""

from __future__ import annotations

from podtap.testing.localcluster import HostSnapshot

ROOT = "/dev/sda1 / ext4 rw,relatime 0 0"
RUN_NETNS = "tmpfs /run/netns tmpfs rw,nosuid,nodev,noexec,relatime,size=803496k,mode=755 0 0"
ONE_NS = "nsfs /run/netns/ptpod-abc123 nsfs rw 0 0"


def _snapshot(*mounts: str) -> HostSnapshot:
    return HostSnapshot(links=frozenset(), mounts=frozenset(mounts), nft="")


def test_run_netns_mounted_by_the_first_ip_netns_add_is_not_a_leftover() -> None:
    assert _snapshot(ROOT, RUN_NETNS).leftovers_since(_snapshot(ROOT)) == []


def test_a_namespace_left_under_run_netns_is_a_leftover() -> None:
    after = _snapshot(ROOT, RUN_NETNS, ONE_NS)
    assert after.leftovers_since(_snapshot(ROOT)) == [f"mount left: {ONE_NS}"]


def test_mounts_under_a_directory_are_found_deepest_first() -> None:
    """What the jail detaches before removing its client's directory (else EBUSY)."""
    from pathlib import Path

    from podtap.net.mounts import mounts_under

    info = "\n".join(
        [
            "36 25 0:32 / /tmp/podtap-exec-ab rw - tmpfs tmpfs rw",
            "37 36 0:33 / /tmp/podtap-exec-ab/views/0 ro - fuse podtap ro",
            "38 36 0:34 / /tmp/podtap-exec-ab/with\\040space rw - tmpfs tmpfs rw",
            "39 25 0:35 / /tmp/podtap-exec-abc rw - tmpfs tmpfs rw",
            "40 25 0:36 / /etc/hostname ro - tmpfs tmpfs ro",
        ]
    )
    assert mounts_under(Path("/tmp/podtap-exec-ab"), info) == [
        "/tmp/podtap-exec-ab/views/0",
        "/tmp/podtap-exec-ab/with space",
        "/tmp/podtap-exec-ab",
    ]
