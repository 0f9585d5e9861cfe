"""How a config names an operator profile: ``NAME`` (a cluster profile) or ``NS/NAME`` (a
namespaced one), as Kubernetes names objects. One check, so the config (``verify-config``),
``podtap exec``, ``podtap policy explain`` and the operator refuse a bad ref alike."""

from __future__ import annotations

from podtap.core.kube.label_syntax import is_dns1123_label, is_dns1123_subdomain

__all__ = ["profile_ref_problem"]


def profile_ref_problem(ref: str) -> str | None:
    """Why ``ref`` names no profile (what to write instead), or None."""
    namespace, _, name = ref.rpartition("/")
    bad = is_dns1123_subdomain(name) + (is_dns1123_label(namespace) if "/" in ref else [])
    if not bad:
        return None
    return (
        "give NAME (a cluster profile) or NS/NAME (a namespaced one), as Kubernetes names "
        f"them: {bad[0]}"
    )
