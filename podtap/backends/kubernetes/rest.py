"""JSON over the Kubernetes REST API, through kubernetes_asyncio's ApiClient.

The typed API classes of kubernetes_asyncio turn objects into models and back; the backend
handles every kind alike (built-in and custom) as plain JSON, so it calls the client's
`call_api` with paths it builds from discovery (`discovery.py`). Authentication (bearer
tokens, client certificates, exec plugins, in-cluster token refresh) stays the client's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["ApiError", "Rest"]

_JSON = {"Accept": "application/json", "Content-Type": "application/json"}


class ApiError(RuntimeError):
    """A Status the server answered with: its code, reason and message."""

    def __init__(self, *, code: int, reason: str, message: str, status: dict[str, Any]) -> None:
        super().__init__(message)
        self.code, self.reason, self.status = code, reason, status

    @classmethod
    def of(cls, exc: ApiException) -> ApiError:
        body: Any = exc.body
        try:
            status = json.loads(body) if body else {}
        except ValueError:
            status = {}
        if not isinstance(status, dict):
            status = {}
        message = str(status.get("message") or exc.reason or f"HTTP {exc.status}")
        reason = str(status.get("reason") or exc.reason or "")
        return cls(code=int(exc.status or 0), reason=reason, message=message, status=status)


class Rest:
    """GET/POST/PUT/DELETE of JSON bodies and streamed watches on one ApiClient."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """`content_type` of the body: a PATCH names its kind (merge, strategic, JSON)."""
        try:
            data = await self.api.call_api(
                path,
                method,
                query_params=list(query),
                header_params=_JSON | {"Content-Type": content_type},
                body=dict(body) if body is not None else None,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise ApiError.of(exc) from None
        return cast(dict[str, Any], data or {})

    async def get(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        return await self.call("GET", path, query=query)

    async def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.get(path)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def stream(
        self, path: str, *, query: Sequence[tuple[str, str]], read_timeout: float
    ) -> aiohttp.ClientResponse:
        """An open response whose body is one JSON event per line (a watch)."""
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=list(query),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(sock_read=read_timeout),
            )
        except ApiException as exc:
            raise ApiError.of(exc) from None
        response = cast(aiohttp.ClientResponse, response)
        if response.status >= 300:  # not checked by the client when it does not read the body
            failed = ApiException(status=response.status, reason=response.reason)
            failed.body = await response.read()
            response.release()
            raise ApiError.of(failed)
        return response
