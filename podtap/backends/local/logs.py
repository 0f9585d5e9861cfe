"""Reading container logs written by the node (files in the state directory)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from podtap.backends.local.client import NodeClient


class LogNotFound(LookupError):
    pass


async def find_log(client: NodeClient, *, namespace: str, pod: str, container: str | None) -> Path:
    pods = [p for p in await client.pods(namespace) if p["namespace"] == namespace]
    kind, _, name = pod.rpartition("/")
    if kind:
        owner = f"{kind.capitalize().replace('set', 'Set')}/{namespace}/{name}"
        matches = [p for p in pods if (p["owner"] or "").lower() == owner.lower()]
    else:
        matches = [p for p in pods if p["name"] == name]
    if not matches:
        raise LogNotFound(
            f"no pod {pod!r} in namespace {namespace!r} (see `podtap local get pods`)"
        )
    found = matches[0]
    names = [c["name"] for c in found["containers"]]
    if container is None:
        if len(names) > 1:
            raise LogNotFound(
                f"pod {found['name']} has containers {', '.join(names)}: choose one with -c"
            )
        container = names[0] if names else None
    elif container not in names:
        raise LogNotFound(
            f"pod {found['name']} has no container {container!r} (it has {', '.join(names)})"
        )
    path = client.paths.pod_dir(namespace, found["name"]) / f"{container}.log"
    if not path.exists():
        raise LogNotFound(f"pod {found['name']} has written no output yet")
    return path


async def follow_log(path: Path, *, follow: bool) -> None:
    out = sys.stdout.buffer
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if not follow or not path.exists():
                return
            await asyncio.sleep(0.2)
