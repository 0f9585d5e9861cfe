"""Talking to a running node from the host: its HTTP API over the state dir's socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from podtap.backends.local.manifests import Manifest
from podtap.backends.local.paths import ClusterPaths


class ClusterNotRunning(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"local cluster {name!r} is not running: start it with `podtap local up --name {name}`"
        )


class ApplyRejected(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class NodeClient:
    def __init__(self, paths: ClusterPaths) -> None:
        self.paths = paths

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        if not self.paths.api_socket.exists():
            raise ClusterNotRunning(self.paths.name)
        connector = aiohttp.UnixConnector(path=str(self.paths.api_socket))
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as s:
            yield s

    async def _call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            async with (
                self._session() as s,
                s.request(method, f"http://node{path}", json=body, params=params) as resp,
            ):
                data = await resp.json()
                if resp.status == 422:
                    raise ApplyRejected(data["errors"])
                resp.raise_for_status()
                return data
        except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
            raise ClusterNotRunning(self.paths.name) from exc

    async def healthy(self) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await asyncio.wait_for(self._call("GET", "/healthz"), 2)
            return result
        except (ClusterNotRunning, TimeoutError, aiohttp.ClientError):
            return None

    @staticmethod
    def _body(manifests: list[Manifest]) -> dict[str, Any]:
        return {"manifests": [{"raw": m.raw, "source": m.source} for m in manifests]}

    async def apply(self, manifests: list[Manifest]) -> list[str]:
        result: list[str] = (await self._call("POST", "/apply", self._body(manifests)))["results"]
        return result

    async def delete(self, manifests: list[Manifest]) -> list[str]:
        result: list[str] = (await self._call("POST", "/delete", self._body(manifests)))["results"]
        return result

    async def objects(
        self, kind: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("kind", kind), ("namespace", namespace)) if v}
        items: list[dict[str, Any]] = (await self._call("GET", "/objects", params=params))["items"]
        return items

    async def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        params = {"namespace": namespace} if namespace else {}
        items: list[dict[str, Any]] = (await self._call("GET", "/pods", params=params))["items"]
        return items

    @asynccontextmanager
    async def run_pod(self, namespace: str) -> AsyncIterator[dict[str, Any]]:
        """A short-lived pod that lives while this context is open."""
        async with (
            self._session() as s,
            s.ws_connect("http://node/run", params={"namespace": namespace}) as ws,
        ):
            info: dict[str, Any] = json.loads((await ws.receive()).data)
            if "error" in info:
                raise RuntimeError(f"cannot create the pod: {info['error']}")
            yield info

    async def watch(self, kind: str | None = None) -> AsyncIterator[dict[str, Any]]:
        params = {"kind": kind} if kind else {}
        async with self._session() as s, s.ws_connect("http://node/watch", params=params) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    yield json.loads(msg.data)
