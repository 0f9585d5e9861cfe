"""Queue splitting decided without I/O: the split config, session filters, the routing of
one message, queue names, the env to patch, and the split's lifecycle as a state machine.

The operator's shells (creating queues, patching workloads, the forwarder) carry out what
these decide; nothing here touches a broker or the cluster. ``plan_split`` reads a config
against the workload's pods; ``SplitMachine`` runs one split; ``route`` sends one message."""

from podtap.core.jqprog import JqError, JqProgram, compile_jq
from podtap.core.queues.envpatch import EnvBinding, EnvPatchError, find_queue_env, patched_value
from podtap.core.queues.filters import FilterError, Message, QueueFilter, compile_queue_filter
from podtap.core.queues.machine import Limits, Phase, SplitMachine
from podtap.core.queues.messages import kafka_message, rmq_message, sqs_message
from podtap.core.queues.models import (
    AppConfig,
    QueueKind,
    QueueSpec,
    SplitConfig,
    SplitConfigError,
    parse_split_config,
)
from podtap.core.queues.names import FALLBACK_ID, QueueNameError, render_queue_name
from podtap.core.queues.plan import QueuePlan, SplitPlan, plan_split
from podtap.core.queues.routing import Route, Routing, route

__all__ = [
    "FALLBACK_ID",
    "AppConfig",
    "EnvBinding",
    "EnvPatchError",
    "FilterError",
    "JqError",
    "JqProgram",
    "Limits",
    "Message",
    "Phase",
    "QueueFilter",
    "QueueKind",
    "QueueNameError",
    "QueuePlan",
    "QueueSpec",
    "Route",
    "Routing",
    "SplitConfig",
    "SplitConfigError",
    "SplitMachine",
    "SplitPlan",
    "compile_jq",
    "compile_queue_filter",
    "find_queue_env",
    "kafka_message",
    "parse_split_config",
    "patched_value",
    "plan_split",
    "render_queue_name",
    "rmq_message",
    "route",
    "sqs_message",
]
