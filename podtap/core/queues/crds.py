"""The CustomResourceDefinitions of the split config and broker config kinds, from the models.

``PodtapSplitConfig`` (``queues.podtap.dev/v1alpha1``) and mirrord's ``MirrordSplitConfig``
(``queues.mirrord.metalbear.co/v1alpha``, behind the chart's ``crds.mirrord``) share
:class:`~podtap.core.queues.models.SplitConfig`'s schema; ``PodtapBrokerConfig`` and
mirrord's ``MirrordKafkaClientConfig`` (the same switch) share
:class:`~podtap.core.queues.client_config.BrokerConfigSpec`'s. They are made structural as
the policy kinds' are (:mod:`podtap.core.policy.crds`); ``scripts/policy-crds`` writes the
templates.
"""

from __future__ import annotations

from typing import Any, Final

from podtap.core.policy.crds import CrdKind, definition
from podtap.core.queues.client_config import BrokerConfigSpec
from podtap.core.queues.models import SplitConfig

__all__ = ["BROKER_KINDS", "KINDS", "SOURCE", "SPLIT_KINDS", "definitions"]

SOURCE: Final = "podtap/core/queues"
SPLIT_KINDS: Final = (
    CrdKind("queues.podtap.dev", "v1alpha1", "PodtapSplitConfig", "podtapsplitconfigs", True,
            SplitConfig, "crd-splitconfigs.yaml"),
    CrdKind("queues.mirrord.metalbear.co", "v1alpha", "MirrordSplitConfig",
            "mirrordsplitconfigs", True, SplitConfig, "crd-splitconfigs-mirrord.yaml"),
)  # fmt: skip
BROKER_KINDS: Final = (
    CrdKind("queues.podtap.dev", "v1alpha1", "PodtapBrokerConfig", "podtapbrokerconfigs", True,
            BrokerConfigSpec, "crd-brokerconfigs.yaml"),
    CrdKind("queues.mirrord.metalbear.co", "v1alpha", "MirrordKafkaClientConfig",
            "mirrordkafkaclientconfigs", True, BrokerConfigSpec,
            "crd-kafkaclientconfigs-mirrord.yaml"),
)  # fmt: skip
KINDS: Final = (*SPLIT_KINDS, *BROKER_KINDS)


def definitions() -> dict[str, dict[str, Any]]:
    """Every queue kind's definition by its name (``podtapsplitconfigs.queues.podtap.dev``)."""
    return {f"{k.plural}.{k.group}": definition(k) for k in KINDS}
