"""What one `podtap exec` run will do, decided once from the resolved configuration (pure).

Why this exists: the CLI used to hand-pick a few resolved values into a dozen keyword
arguments of `run_exec`, and keys were lost on the way: an ``all_of`` filter, an empty
``header_filter`` or a ``body_filter`` became an *unfiltered* steal of the whole port, taking
every teammate's traffic. Now every key that changes what the run does goes through
:meth:`ExecSpec.from_config`, and a filter the agent cannot apply exactly is a
:class:`~podtap.core.config.loader.ConfigError` naming its key: never a broader steal.

:class:`SessionSpec` is the part the operator cares about (target, ports and filters,
``on_concurrent_steal``, ``key``, ``profile``); the rest is carried out on this machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from pydantic import BaseModel

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config.loader import ConfigError, ConfigIssue
from podtap.core.config.models import IncomingConfig, ResolvedConfig
from podtap.core.fs_rules import FsRules
from podtap.core.ids import Port
from podtap.core.outgoing_filter import NetworkRules, network_rules
from podtap.core.protocol import HttpFilter, IncomingMode, InvalidHttpFilter

TargetPath = NewType("TargetPath", str)
"""``deployment/shop``, ``pod/x/container/c``, ... (validated by the config models)."""
Namespace = NewType("Namespace", str)
SessionKey = NewType("SessionKey", str)
ProfileName = NewType("ProfileName", str)
KubeContext = NewType("KubeContext", str)

HTTP_FILTER = "feature.network.incoming.http_filter"

# config key -> field of the wire filter; the top level spells them with a `_filter` suffix
_TOP = {"header_filter": "header", "path_filter": "path", "method_filter": "method"}
_INNER = {"header": "header", "path": "path", "method": "method"}
_COMPOSITE = ("all_of", "any_of")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """A warning about one key, e.g. ``feature.network.incoming.http_filter: applies when
    mode is steal; mirror copies every request``."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingPlan:
    """Which of the app's ports are subscribed, and how (mirrord's rules).

    ``filter_ports`` is ``http_filter.ports``: with a filter in steal mode, those ports are
    stolen per matching request and every other port follows ``mode`` (a whole-port steal),
    as in mirrord; None means the filter applies on every port. Mirror subscriptions carry
    no filter: the agent copies every request of a mirrored port."""

    mode: IncomingMode | None  # None: incoming off
    http_filter: HttpFilter | None = None
    filter_ports: frozenset[Port] | None = None
    ports: frozenset[Port] | None = None  # None: every port the app listens on
    ignore_ports: frozenset[Port] = frozenset()
    port_mapping: tuple[tuple[Port, Port], ...] = ()  # (local, remote)
    ignore_localhost: bool = False

    def remote_port(self, local: int) -> Port | None:
        """The pod's port a local listener stands for, or None if it is left alone."""
        remote = dict(self.port_mapping).get(Port(local), Port(local))
        if self.mode is None or {local, remote} & self.ignore_ports:
            return None
        if self.ports is not None and remote not in self.ports:
            return None
        return remote

    def filter_for(self, remote: int) -> HttpFilter | None:
        """The filter the subscription of the pod's port `remote` carries (None: whole port)."""
        if self.mode is not IncomingMode.STEAL or self.http_filter is None:
            return None
        if self.filter_ports is not None and remote not in self.filter_ports:
            return None
        return self.http_filter

    def describe(self) -> list[str]:
        """The plan in words, one line per rule (what `verify-config` prints)."""
        if self.mode is None:
            return ["incoming: off (no port is subscribed)"]
        which = "every port" if self.ports is None else _ports(self.ports)
        lines = [f"incoming: {self.mode.value} {which} the app listens on"]
        flt = self.http_filter
        if flt is not None and self.mode is IncomingMode.STEAL:
            on = "every port" if self.filter_ports is None else _ports(self.filter_ports)
            lines.append(f"  {on}: only requests matching {flt.describe()}")
            if self.filter_ports is not None:
                lines.append("  other ports: the whole port (not in http_filter.ports)")
        elif flt is not None:
            lines.append("  http_filter applies to steal: mirror copies every request")
        lines += [f"  local {a} is the pod's port {b}" for a, b in self.port_mapping]
        if self.ignore_ports:
            lines.append(f"  ignored: {_ports(self.ignore_ports)}")
        if self.ignore_localhost:
            lines.append("  ports the app listens on only on loopback are left alone")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSpec:
    """What the operator is asked for: the target and the subscriptions plan."""

    target: TargetPath | None
    namespace: Namespace
    incoming: IncomingPlan
    on_concurrent_steal: OnConcurrentSteal = OnConcurrentSteal.ABORT
    key: SessionKey | None = None
    profile: ProfileName | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvSpec:
    """mirrord's ``feature.env``: which remote variables to take, and local adjustments.
    ``env_file`` is a path, read when the run starts (reading is not this module's job)."""

    enabled: bool = True
    include: tuple[str, ...] | None = None  # fnmatch patterns; None: all
    exclude: tuple[str, ...] = ()
    override: tuple[tuple[str, str], ...] = ()
    unset: tuple[str, ...] = ()
    env_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecSpec:
    """Everything a `podtap exec` run does, typed; built by :meth:`from_config`."""

    session: SessionSpec
    argv: tuple[str, ...] = ()  # the command to run
    env: EnvSpec = field(default_factory=EnvSpec)
    network: NetworkRules = field(default_factory=NetworkRules)
    fs: FsRules = field(default_factory=FsRules)
    kube_context: KubeContext | None = None
    notices: tuple[Notice, ...] = ()

    @classmethod
    def from_config(cls, resolved: ResolvedConfig, *, argv: Sequence[str] = ()) -> ExecSpec:
        """Raises :class:`ConfigError` for a filter the agent cannot apply exactly."""
        e = resolved.feature.env
        return cls(
            argv=tuple(argv),
            session=SessionSpec(
                target=TargetPath(resolved.target.path) if resolved.target.path else None,
                namespace=Namespace(resolved.target.namespace or "default"),
                incoming=incoming_plan(resolved.feature.network.incoming),
                on_concurrent_steal=resolved.feature.network.incoming.on_concurrent_steal,
                key=SessionKey(resolved.key) if resolved.key is not None else None,
                profile=ProfileName(resolved.profile) if resolved.profile is not None else None,
            ),
            env=EnvSpec(
                enabled=e.enabled,
                include=tuple(e.include) if e.include is not None else None,
                exclude=tuple(e.exclude),
                override=tuple(e.override.items()),
                unset=tuple(e.unset),
                env_file=e.env_file,
            ),
            network=network_rules(resolved.feature.network),
            fs=FsRules.from_config(resolved.feature.fs),
            kube_context=KubeContext(resolved.kube_context) if resolved.kube_context else None,
            notices=_notices(resolved),
        )

    def plan(self) -> dict[str, Any]:
        """The JSON form of the plan (`verify-config -o json`'s ``"plan"``)."""
        s, inc = self.session, self.session.incoming
        return {
            "target": s.target,
            "namespace": s.namespace,
            "incoming": {
                "mode": inc.mode.value if inc.mode is not None else "off",
                "http_filter": _filter_json(inc.http_filter),
                "http_filter_ports": sorted(inc.filter_ports)
                if inc.filter_ports is not None
                else None,
                "text": inc.describe(),
            },
            "on_concurrent_steal": s.on_concurrent_steal.value,
            "notices": [str(n) for n in self.notices],
        }


def plan_of(resolved: ResolvedConfig) -> dict[str, Any]:
    """For `verify-config`: the exec plan of a resolved config, or :class:`ConfigError`."""
    return ExecSpec.from_config(resolved).plan()


def incoming_plan(incoming: IncomingConfig) -> IncomingPlan:
    """The subscriptions plan of ``feature.network.incoming``."""
    hf = incoming.http_filter
    return IncomingPlan(
        mode=None if incoming.mode.value == "off" else IncomingMode(incoming.mode.value),
        http_filter=wire_filter(hf),
        filter_ports=frozenset(map(Port, hf.ports)) if hf.ports is not None else None,
        ports=frozenset(map(Port, incoming.ports)) if incoming.ports is not None else None,
        ignore_ports=frozenset(map(Port, incoming.ignore_ports)),
        port_mapping=tuple((Port(a), Port(b)) for a, b in incoming.port_mapping),
        ignore_localhost=incoming.ignore_localhost,
    )


def wire_filter(config: BaseModel) -> HttpFilter | None:
    """``http_filter`` as the agent's :class:`HttpFilter`, exactly, or None when no filter
    is set; raises :class:`ConfigError` naming the key of anything it cannot carry."""
    flt = _convert(config, HTTP_FILTER, top=True)
    if flt is not None:
        _check(flt, HTTP_FILTER)  # what only the whole can break: nesting depth
    return flt


def _check(flt: HttpFilter, key: str) -> None:
    try:
        flt.validate()
    except InvalidHttpFilter as exc:
        raise _error(key, str(exc).split(": ", 1)[-1]) from None


def _convert(model: object, where: str, *, top: bool) -> HttpFilter | None:
    """One config filter object (top level or an ``all_of``/``any_of`` item) on the wire."""
    names = _TOP if top else _INNER
    known = {*names, *_COMPOSITE, *(("ports",) if top else ())}
    values = _values(model, where)
    for key, value in values.items():
        if key not in known and value is not None:  # body_filter, header_filter_jq, typos
            raise _error(
                f"{where}.{key}",
                "this filter form is not supported by podtap's agent; refusing to run "
                "rather than steal more than it asks for",
            )
    fields: dict[str, Any] = {}
    for key, wire_name in names.items():
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise _error(f"{where}.{key}", "an empty filter would match every request")
        leaf: dict[str, Any] = {wire_name: value}
        _check(HttpFilter(**leaf), f"{where}.{key}")
        fields[wire_name] = value
    for key in _COMPOSITE:
        items = values.get(key)
        if items is None:
            continue
        if not items:
            raise _error(f"{where}.{key}", "an empty list would match every request")
        subs = [_convert(item, f"{where}.{key}[{i}]", top=False) for i, item in enumerate(items)]
        fields[key] = tuple(s for s in subs if s is not None)
    if not fields:
        if top:
            return None
        raise _error(where, "an empty filter would match every request")
    return HttpFilter(**fields)


def _values(obj: object, where: str) -> dict[str, Any]:
    """The keys of a filter object: a model's fields and extras, or a raw mapping (an
    extra key's value was not validated)."""
    if isinstance(obj, BaseModel):
        return {**dict(obj), **(obj.model_extra or {})}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    raise _error(where, f"expected a filter object, got {obj!r}")


def _error(key: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(path=key, message=message.strip(), source="")])


def _notices(resolved: ResolvedConfig) -> tuple[Notice, ...]:
    """Keys set that do not do what they seem to (an http_filter under mirror)."""
    out: list[Notice] = []
    incoming = resolved.feature.network.incoming
    if incoming.mode.value == "mirror" and incoming.http_filter.is_set:
        out.append(
            Notice(
                key=HTTP_FILTER, message="applies when mode is steal; mirror copies every request"
            )
        )
    return tuple(out)


def _ports(ports: frozenset[Port]) -> str:
    return "port" + ("s " if len(ports) != 1 else " ") + ", ".join(map(str, sorted(ports)))


def _filter_json(flt: HttpFilter | None) -> dict[str, Any] | None:
    if flt is None:
        return None
    out: dict[str, Any] = {k: v for k in _INNER.values() if (v := getattr(flt, k)) is not None}
    for key in _COMPOSITE:
        if subs := getattr(flt, key):
            out[key] = [_filter_json(s) for s in subs]
    return out
