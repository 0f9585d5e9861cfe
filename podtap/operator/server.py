"""`podtap operator serve`: run the operator until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from podtap.backends.base import ClusterBackend
from podtap.operator.api import OperatorApi
from podtap.operator.service import OperatorService, OperatorSettings

log = logging.getLogger("podtap.operator")


async def serve(settings: OperatorSettings, backend: ClusterBackend, *, listen: str) -> None:
    service = OperatorService(settings, backend)
    await service.start()
    runner = web.AppRunner(OperatorApi(service).app(), handle_signals=False, access_log=None)
    await runner.setup()
    if listen.startswith("unix:"):
        path = Path(listen.removeprefix("unix:"))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        site: web.BaseSite = web.UnixSite(runner, str(path))
    else:
        host, _, port = listen.rpartition(":")
        site = web.TCPSite(runner, host or "127.0.0.1", int(port))
    await site.start()
    if listen.startswith("unix:"):
        Path(listen.removeprefix("unix:")).chmod(0o666)  # identity comes from SO_PEERCRED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("operator listening on %s", listen)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("operator stopping")
        await service.close()
        await runner.cleanup()


def run(settings: OperatorSettings, backend: ClusterBackend, *, listen: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s operator %(levelname)s %(message)s",
    )
    asyncio.run(serve(settings, backend, listen=listen))
