"""The operator behind the kube-apiserver of the user's kubeconfig, reached as kubectl would.

kubernetes_asyncio's kubeconfig loader reads the context (client certificate and key as data
or file, token or tokenFile, exec credential plugins, basic auth, certificate-authority(-data),
insecure-skip-tls-verify, tls-server-name, proxy-url); this module only turns what it loaded
into what aiohttp needs: an SSL context, an Authorization header (an exec plugin's token is
asked again once it expires, or once after the server refuses it) and per-request options.
The operator's paths are the same as on its socket, under the server's URL.
"""

from __future__ import annotations

import datetime
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, load_kube_config

from podtap.client.host.kube_refusals import refusal_line
from podtap.client.host.operator_api import OperatorAddress, OperatorUnavailable

_EARLY = datetime.timedelta(seconds=10)  # ask an exec plugin again this long before expiry


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used (missing, no such context, a plugin failed)."""


class Credentials:
    """What one kubeconfig context authenticates with; tokens refreshed as they expire."""

    def __init__(self, loader: KubeConfigLoader, config: Configuration, *, where: str) -> None:
        self._loader = loader
        self._config = config
        self.where = where
        self.server: str = str(config.host).rstrip("/")
        self.proxy: str | None = config.proxy or None
        self.server_hostname: str | None = config.tls_server_name or None
        self._ssl: ssl.SSLContext | None = None

    @property
    def uses_exec(self) -> bool:
        user = self._loader._user  # the loader keeps the context's user section here
        return user is not None and "exec" in user

    def ssl_context(self) -> ssl.SSLContext:
        """As kubernetes_asyncio's REST client builds it, from the same configuration
        (made once, and again when a plugin renews the client certificate)."""
        if self._ssl is None:
            self._ssl = self._make_ssl()
        return self._ssl

    def _make_ssl(self) -> ssl.SSLContext:
        c = self._config
        context = ssl.create_default_context(cafile=c.ssl_ca_cert)
        if c.cert_file:
            context.load_cert_chain(c.cert_file, keyfile=c.key_file)
        if not c.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def authorization(self, *, renew: bool = False) -> str | None:
        """The Authorization header's value (None: the client certificate speaks)."""
        if self.uses_exec and (renew or self._expiring()):
            if renew and hasattr(self._loader, "exec_plugin_expiry"):
                del self._loader.exec_plugin_expiry
            try:
                await self._loader.load_from_exec_plugin()
            except (ConfigException, OSError) as exc:  # (at load, KubeconfigError)
                said = " ".join(str(exc).split())  # its stderr, on one line
                raise OperatorUnavailable(
                    f"{self.where}: the exec credential plugin failed: {said}"
                ) from None
            if hasattr(self._loader, "token"):
                self._config.api_key["BearerToken"] = self._loader.token
            for key in ("cert_file", "key_file"):  # a plugin may give a certificate instead
                if key in vars(self._loader):
                    setattr(self._config, key, getattr(self._loader, key))
                    self._ssl = None
        token = str(self._config.api_key.get("BearerToken") or "").strip()
        return token or None  # stripped: a tokenFile ends with a newline (client-go trims it)

    def _expiring(self) -> bool:
        expiry = getattr(self._loader, "exec_plugin_expiry", None)
        if not isinstance(expiry, datetime.datetime):
            return False
        return expiry - _EARLY <= datetime.datetime.now(datetime.UTC)


async def load_credentials(*, files: str | None, context: str | None) -> Credentials:
    """The credentials of `context` (None: the current one) of the kubeconfig `files`
    (KUBECONFIG's colon-separated list; None: ~/.kube/config)."""
    config = Configuration()
    name = f"context {context!r}" if context else "the current context"
    where = f"kubeconfig {files or '~/.kube/config'} ({name})"
    listed = (files or "~/.kube/config").split(os.pathsep)
    if not any(Path(f).expanduser().is_file() for f in listed if f):
        raise KubeconfigError(f"kubeconfig {files or '~/.kube/config'}: no such file")
    try:
        loader = await load_kube_config(
            config_file=files, context=context, client_configuration=config, persist_config=False
        )
    except (
        ConfigException,
        yaml.YAMLError,
        LookupError,
        TypeError,
        AssertionError,
        OSError,
    ) as exc:
        # (the loader asserts that a context has a cluster, and indexes what it does not check)
        text = " ".join(str(exc).split()) or "no such context or cluster"  # one line
        raise KubeconfigError(f"{where}: {text}") from None
    if not config.host or not str(config.host).startswith(("https://", "http://")):
        raise KubeconfigError(f"{where}: the cluster has no server URL")
    credentials = Credentials(loader, config, where=where)
    try:
        credentials.ssl_context()
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise KubeconfigError(f"{where}: its certificates cannot be used: {exc}") from None
    return credentials


@dataclass(frozen=True)
class KubeAddress(OperatorAddress):
    """The operator's aggregated API on the API server of `credentials`."""

    credentials: Credentials = field(compare=False, kw_only=True)

    def connector(self) -> aiohttp.BaseConnector:
        return aiohttp.TCPConnector(ssl=self.credentials.ssl_context())

    def url(self, path: str) -> str:
        return self.credentials.server + path

    async def headers(self) -> dict[str, str]:
        token = await self.credentials.authorization()
        return {"Authorization": token} if token else {}

    async def renew(self) -> bool:
        if not self.credentials.uses_exec:
            return False
        await self.credentials.authorization(renew=True)
        return True

    def request_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.credentials.proxy:
            options["proxy"] = self.credentials.proxy
        if self.credentials.server_hostname:
            options["server_hostname"] = self.credentials.server_hostname
        return options

    def refusal(self, status: int, body: Any, *, method: str, path: str, reason: str) -> str:
        line = refusal_line(status, body, server=self.credentials.server, method=method, path=path)
        return line or super().refusal(status, body, method=method, path=path, reason=reason)

    def unreachable(self, why: BaseException | str) -> OperatorUnavailable:
        return OperatorUnavailable(
            f"cannot reach the Kubernetes API server {self.credentials.server} "
            f"of {self.credentials.where}: {why}"
        )


async def kube_address(*, files: str | None, context: str | None) -> KubeAddress:
    credentials = await load_credentials(files=files, context=context)
    return KubeAddress(credentials.server, credentials=credentials)
