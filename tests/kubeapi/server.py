"""The API server run in a thread of the test process, for clients that block (kubectl)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from podtap.backends.local.kubeapi.app import Running, serving
from podtap.backends.local.kubeapi.context import ApiContext

ROOT = Path(__file__).resolve().parents[2]


def tools() -> Path:
    """The tool cache scripts/setup fills; filled here too when a test runs on its own."""
    dest = Path(os.environ.get("PODTAP_TOOLS") or ROOT / ".tools")
    script = ROOT / "scripts" / "install-kube-tools"
    subprocess.run(["python3", str(script), str(dest)], check=True, capture_output=True)
    return dest


@contextlib.contextmanager
def in_thread(ctx: ApiContext | None = None) -> Iterator[Running]:
    """Serve on 127.0.0.1 from a thread with its own loop; stopped (and cleaned) at the end."""
    ready = threading.Event()
    box: dict[str, object] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with serving(ctx=ctx) as running:
            box["running"] = running
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # surfaced to the test below
            box["error"] = e
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="kubeapi", daemon=True)
    thread.start()
    ready.wait(30)
    error = box.get("error")
    if isinstance(error, BaseException):
        raise RuntimeError("the API server did not start") from error
    running = box["running"]
    assert isinstance(running, Running)
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        assert not thread.is_alive(), "the API server thread did not stop"
        assert not running.workdir.exists(), "the server's temporary directory was left"
