"""One run of a probe's action, as kubelet's prober does it: an outcome and its message.

`httpGet` is kubelet's GET: to `host` (the pod's IP unless given) on `port` (a number or
the name of a container port), `User-Agent: kube-probe/1.37` and `Accept: */*` unless
`httpHeaders` say otherwise (a `Host` header among them sets the request's host), HTTPS
without verifying the certificate, no keep-alive; redirects followed up to 10 times while
they stay on the same host (one to another host ends the probe with that answer). The
answer decides by `probes.http_outcome`. `tcpSocket` succeeds when a connection opens;
`exec` when the command, run as the container's process, exits 0. Every action gives up
after `timeoutSeconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

import aiohttp

from podtap.backends.local.models import Container, HTTPGetAction, Probe
from podtap.backends.local.probes import MAX_BODY, MAX_REDIRECTS, http_outcome, redirect_target

USER_AGENT = "kube-probe/1.37"
Outcome = tuple[bool, str]


def port_of(container: Container, port: int | str) -> int | None:
    """A probe's port: a number, or the container port of that name (None: none has it)."""
    if isinstance(port, int):
        return port
    return next((p.container_port for p in container.ports if p.name == port), None)


async def run(probe: Probe, *, container: Container, ip: str, enter_argv: list[str]) -> Outcome:
    """Run the probe's action once against the container (whose pod has `ip`)."""
    timeout = probe.timeout_seconds
    if probe.exec is not None:
        return await _exec([*enter_argv, *probe.exec.command], timeout=timeout)
    action = probe.http_get or probe.tcp_socket
    assert action is not None
    port = port_of(container, action.port)
    if port is None:
        return False, f"unable to find port {action.port!r} in container {container.name}"
    if probe.http_get is not None:
        return await _http(
            probe.http_get, host=probe.http_get.host or ip, port=port, timeout=timeout
        )
    return await _tcp(ip, port, timeout=timeout)


async def _tcp(ip: str, port: int, *, timeout: float) -> Outcome:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
    except TimeoutError:
        return False, f"dial tcp {ip}:{port}: i/o timeout"
    except OSError as exc:
        return False, f"dial tcp {ip}:{port}: connect: {exc.strerror or exc}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def _exec(argv: list[str], *, timeout: float) -> Outcome:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"command timed out after {timeout:g}s"
    text = out[:MAX_BODY].decode(errors="replace").strip()
    return proc.returncode == 0, text


def _no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _http(action: HTTPGetAction, *, host: str, port: int, timeout: float) -> Outcome:
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    headers.update({h.name: h.value for h in action.http_headers})
    scheme = action.scheme.lower()
    url = redirect_target(
        location=action.path or "/", host=host, port=port, scheme=scheme, path="/"
    )
    first_host = host
    limit = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(ssl=_no_verify(), force_close=True)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=limit) as session:
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(url, headers=headers, allow_redirects=False) as answer:
                    body = await answer.content.read(MAX_BODY)
                    location = answer.headers.get("Location")
                    if not (300 <= answer.status < 400 and location):
                        return http_outcome(answer.status, body)
                    parts = urlsplit(url)
                    target = redirect_target(
                        location=location,
                        host=parts.hostname or host,
                        port=parts.port or port,
                        scheme=parts.scheme,
                        path=parts.path,
                    )
                    if urlsplit(target).hostname != first_host:
                        return http_outcome(answer.status, body)
                    url = target
            return False, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects'
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded'
    except (aiohttp.ClientError, OSError) as exc:
        return False, f'Get "{url}": {exc}'
