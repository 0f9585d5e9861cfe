"""Prometheus metrics of the operator."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("podtap_sessions", "Open sessions", registry=r)
        self.connected = Gauge(
            "podtap_sessions_connected", "Sessions with a connected client", registry=r
        )
        self.subscriptions = Gauge(
            "podtap_subscriptions", "Port subscriptions", ["mode"], registry=r
        )
        self.agents = Gauge("podtap_agents", "Running agents", registry=r)
        self.sessions_total = Counter("podtap_sessions_started", "Sessions started", registry=r)
        self.closed = Counter("podtap_sessions_closed", "Sessions closed", ["reason"], registry=r)
        self.refusals = Counter("podtap_refusals", "Refused subscriptions", registry=r)
        self.bytes = Counter("podtap_relayed_bytes", "Bytes relayed", ["direction"], registry=r)
        self.requests = Counter(
            "podtap_http_requests_routed", "HTTP requests routed to sessions", registry=r
        )
        self.connections = Counter(
            "podtap_connections_routed", "Connections routed to sessions", ["mode"], registry=r
        )
        self.queue_messages = Counter(
            "podtap_queue_messages_routed",
            "Messages a queue split routed from a workload's original queues, per session "
            "(or to the workload's fallback queue)",
            ["workload", "to"],
            registry=r,
        )
        self.agent_traffic = Counter(
            "podtap_agent_traffic",
            "What agents did with incoming traffic: connections "
            "stolen/filtered/passed/mirrored, HTTP requests routed to sessions or passed to "
            "the app",
            ["kind"],
            registry=r,
        )

    def count_agent_traffic(self, delta: dict[str, int]) -> None:
        """What an agent says it did since its last report, by kind."""
        for kind, count in delta.items():
            if count > 0:
                self.agent_traffic.labels(kind).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
