"""`podtap exec`: run a local command in the context of a target pod.

`run_exec` carries out an :class:`~podtap.core.exec_spec.ExecSpec` and decides
nothing of its own: the pod's environment, DNS, outgoing TCP/UDP (through the operator and
the agent, so peers see the pod's IP), files and the incoming subscriptions all come from
the spec, built once from the configuration."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path

from podtap.client.host.channel import ClientChannel
from podtap.client.host.exec_dir import exec_dir
from podtap.client.host.files import Copies, Snapshot
from podtap.client.host.fuse_view import Views, fuse_usable, view_roots
from podtap.client.host.incoming import Incoming
from podtap.client.host.jail_files import prepare_jail_network
from podtap.client.host.operator_api import OperatorAddress, OperatorApi, planned_steals
from podtap.client.host.outbound import Outbound
from podtap.client.host.reconnect import keep_linked
from podtap.core.config import ConfigError, ResolvedConfig
from podtap.core.exec_spec import EnvSpec, ExecSpec
from podtap.core.ids import RequestId
from podtap.core.policy.applied import apply_at_connect
from podtap.core.policy.models import PolicyError
from podtap.core.policy.profile_wire import parse_profile_ref
from podtap.core.policy.profiles import FoundProfile
from podtap.core.protocol import EnvRequest, EnvResponse, Log, LogLevel
from podtap.core.queues.wire import splittable
from podtap.core.reconnect import client_ttl
from podtap.net.tasks import TaskSet

KEEP_LOCAL = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "PWD", "HOSTNAME")


class ExecFailed(Exception):
    """The run cannot start (an unreadable env_file, no target); the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecUi:
    """Where `run_exec` reports: the agent's log lines, one-line progress, and notices
    that must stay on screen (the profile applied; None: as progress)."""

    on_log: Callable[[Log], None]
    on_status: Callable[[str], None]
    on_notice: Callable[[str], None] | None = None


def profiled(
    spec: ExecSpec, config: ResolvedConfig | None, profile: FoundProfile | None
) -> tuple[ExecSpec, str | None]:
    """The run's spec under the profile the operator applied, and the line that says what
    it changed (None: no profile); ExecFailed (one line) if it cannot apply to `config`."""
    if profile is None:
        return spec, None
    if config is None:
        raise ExecFailed(f"{profile.label}: this run was given no config to apply it to")
    try:
        applied = apply_at_connect(config, profile)
        return ExecSpec.from_config(applied.config, argv=spec.argv), applied.line
    except PolicyError as exc:
        raise ExecFailed(str(exc)) from None
    except ConfigError as exc:  # a filter the agent cannot apply exactly
        issues = "; ".join(str(i).strip() for i in exc.issues)
        raise ExecFailed(f"{profile.label} does not fit your config: {issues}") from None


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments, blank lines and `export ` allowed; quotes stripped)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def env_file_values(rules: EnvSpec) -> dict[str, str]:
    """The variables of `feature.env.env_file` (none without one); ExecFailed if unreadable."""
    if rules.env_file is None:
        return {}
    try:
        return dotenv(Path(rules.env_file))
    except OSError as exc:
        raise ExecFailed(f"env_file {rules.env_file}: {exc.strerror}") from None


def merged_env(
    local: Mapping[str, str],
    remote: Mapping[str, str],
    rules: EnvSpec | None = None,
    *,
    env_file: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The pod's variables over the local ones (except those that locate local things),
    filtered by include/exclude; then env_file, override and unset, in mirrord's order."""
    rules = rules or EnvSpec()
    env = dict(local)
    if rules.enabled:
        for key, value in remote.items():
            if key in KEEP_LOCAL:
                continue
            if rules.include is not None and not any(fnmatch(key, p) for p in rules.include):
                continue
            if any(fnmatch(key, p) for p in rules.exclude):
                continue
            env[key] = value
    env.update(env_file or {})
    env.update(rules.override)
    for pattern in rules.unset:
        for key in [k for k in env if fnmatch(k, pattern)]:
            del env[key]
    return env


async def run_exec(
    address: OperatorAddress, spec: ExecSpec, ui: ExecUi, *, config: ResolvedConfig | None = None
) -> int:
    """Carry out `spec` (made from `config`, which a profile applies to): run its command
    in the jail; returns the command's exit code (or raises if the session fails,
    ExecFailed if the run cannot start)."""
    session_spec, on_log, on_status = spec.session, ui.on_log, ui.on_status
    if session_spec.target is None or not spec.argv:
        raise ExecFailed("a run needs a target and a command")
    target, namespace, argv = session_spec.target, session_spec.namespace, list(spec.argv)
    if session_spec.profile is not None:
        try:
            parse_profile_ref(session_spec.profile)
        except PolicyError as exc:
            raise ExecFailed(str(exc)) from None
    env_file = env_file_values(spec.env)
    on_status(f"connecting to the operator for {target}")
    connect = functools.partial(
        OperatorApi(address).connect,
        target,
        namespace=namespace,
        on_concurrent_steal=session_spec.on_concurrent_steal.value,
        key=session_spec.key,
        steals=planned_steals(session_spec.incoming),  # a held one: refused, before the command
        profile=session_spec.profile,  # a resume sends it again
        splits=splittable(config.feature.split_queues) if config is not None else (),  # and these
    )
    async with connect() as session:
        # applied before anything is set up: a profile may change what is subscribed,
        # resolved, read and let out
        spec, told = profiled(spec, config, session.profile)
        if told is not None:
            (ui.on_notice or on_status)(told)
            session_spec = spec.session
            env_file = env_file_values(spec.env)
        channel = ClientChannel(session, on_log=on_log)
        tasks = TaskSet()
        linked = keep_linked(  # a dropped link is resumed within the TTL, the command kept
            channel,
            reconnect=lambda sid: connect(resume=sid),
            ttl=client_ttl(os.environ, announced=session.unused_ttl),
            tell=on_status,
        )
        ended = tasks.spawn(linked, name=f"session {session.label}")
        on_status(f"session {session.label}: reading the pod's environment")
        env_reply = await channel.request(lambda rid: EnvRequest(request=RequestId(rid)))
        assert isinstance(env_reply, EnvResponse)
        env = merged_env(os.environ, env_reply.env, spec.env, env_file=env_file)
        network, fs = spec.network, spec.fs
        with exec_dir() as (tmp, tie):
            bridge_path = Path(tmp) / "bridge.sock"
            names = await prepare_jail_network(
                channel, Path(tmp), namespace=namespace, rules=network
            )
            plan = fs.plan(env_reply.mounts)
            views = None
            if plan.remote and os.environ.get("PODTAP_FS_VIEW") != "snapshot" and fuse_usable():
                roots = await view_roots(channel, plan.remote)
                views, copies = Views(channel, fs, roots), Copies()
            else:
                on_status(f"session {session.label}: copying the pod's files")
                copies = await Snapshot(channel, Path(tmp) / "fs", fs).take(plan.remote)
            for warning in (*plan.warnings, *copies.warnings):
                on_log(Log(level=LogLevel.WARNING, message=warning))
            deliver = Path(tmp) / "deliver.sock"
            incoming = (
                None
                if session_spec.incoming.mode is None
                else Incoming(
                    channel,
                    deliver=deliver,
                    plan=session_spec.incoming,
                    tell=lambda text: on_log(Log(level=LogLevel.INFO, message=text)),
                )
            )
            outbound = Outbound(channel, network, search=names.search)
            server = await asyncio.start_unix_server(outbound.handle, path=str(bridge_path))
            on_status(f"session {session.label}: starting {argv[0]}")
            proc = await asyncio.create_subprocess_exec(
                "unshare",
                "--user",
                "--map-root-user",
                "--net",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "-m",
                "podtap.client.jail",
                "--bridge",
                str(bridge_path),
                *names.argv,
                "--deliver",
                str(deliver),
                *[a for local, remote in copies.binds for a in ("--mount", f"{local}:{remote}")],
                *[a for path in plan.hidden for a in ("--hide", path)],
                *(views.argv if views is not None else []),
                *tie.argv,
                "--uid",
                str(os.getuid()),
                "--gid",
                str(os.getgid()),
                "--",
                *argv,
                env=env,
                pass_fds=(*tie.pass_fds, *(views.pass_fds if views is not None else ())),
            )
            if views is not None:
                tasks.spawn(views.serve(), name="fuse views")
            if incoming is not None:
                incoming.watch(proc.pid)  # the jail's listeners, in its namespace
            app = tasks.spawn(proc.wait(), name=f"command {argv[0]}")
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, proc.send_signal, sig)  # for the app to decide
            cut_short = False  # the session ended first: the run fails whatever the app says
            try:
                done, _ = await asyncio.wait({app, ended}, return_when=asyncio.FIRST_COMPLETED)
                if app not in done:  # the session ended first (killed, expired): stop the app
                    with contextlib.suppress(ProcessLookupError):
                        proc.terminate()
                    await app
                    close = ended.result()
                    on_status(f"session ended: {close.reason.value}: {close.message}")
                    cut_short = True
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
                server.close()
                if incoming is not None:
                    await incoming.close()
                await tasks.close()
            code = app.result() or int(cut_short)
    return code if code >= 0 else 128 - code
