"""The CustomResourceDefinitions of the split config kinds, generated from the model.

``PodtapSplitConfig`` (``queues.podtap.dev/v1alpha1``) and mirrord's ``MirrordSplitConfig``
(``queues.mirrord.metalbear.co/v1alpha``, behind the chart's ``crds.mirrord``) share
:class:`~podtap.core.queues.models.SplitConfig`'s schema, made structural as the policy
kinds' are (:mod:`podtap.core.policy.crds`); ``scripts/policy-crds`` writes both templates.
"""

from __future__ import annotations

from typing import Any, Final

from podtap.core.policy.crds import CrdKind, definition
from podtap.core.queues.models import SplitConfig

__all__ = ["SOURCE", "SPLIT_KINDS", "definitions"]

SOURCE: Final = "podtap/core/queues"
SPLIT_KINDS: Final = (
    CrdKind("queues.podtap.dev", "v1alpha1", "PodtapSplitConfig", "podtapsplitconfigs", True,
            SplitConfig, "crd-splitconfigs.yaml"),
    CrdKind("queues.mirrord.metalbear.co", "v1alpha", "MirrordSplitConfig",
            "mirrordsplitconfigs", True, SplitConfig, "crd-splitconfigs-mirrord.yaml"),
)  # fmt: skip


def definitions() -> dict[str, dict[str, Any]]:
    """Every split config definition by its name (``podtapsplitconfigs.queues.podtap.dev``)."""
    return {f"{k.plural}.{k.group}": definition(k) for k in SPLIT_KINDS}
