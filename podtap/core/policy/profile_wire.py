"""A profile between client and operator: the ref a config selects it by, and the header
the operator answers a connect with, so the client applies the same profile to its config.

A client selects a profile as ``NAME`` (a cluster profile) or ``NS/NAME`` (a namespaced
one) and sends it as the connect's ``?profile=``. The operator finds it and answers the
WebSocket upgrade with :data:`PROFILE_HEADER`: compact JSON, versioned, in the CRD's own
field names (``{"v":1,"ref":"shop/safe","featureAdjustments":[{"change":
"incoming-mirror"}],"config":{...}}``), so the client parses it exactly as the operator
parsed the object, and :func:`~.profiles.apply_profile` gives both the same result.
"""

from __future__ import annotations

import json
from typing import Any

from podtap.core.config.profile_ref import profile_ref_problem
from podtap.core.policy.models import PolicyError, parse_profile_spec
from podtap.core.policy.profiles import FoundProfile

__all__ = [
    "MAX_HEADER",
    "PROFILE_HEADER",
    "VERSION",
    "decode_profile",
    "encode_profile",
    "parse_profile_ref",
    "profile_not_found",
]

PROFILE_HEADER = "X-Podtap-Profile"
VERSION = 1
MAX_HEADER = 8000
"""Characters of the header's value: HTTP stacks and proxies refuse lines past about 8 KiB."""


def parse_profile_ref(ref: str) -> tuple[str | None, str]:
    """``(namespace, name)`` of ``NAME`` (namespace None: a cluster profile) or ``NS/NAME``;
    PolicyError in one line if it is neither."""
    if (problem := profile_ref_problem(ref)) is not None:
        raise PolicyError(f"profile {ref!r}: {problem}")
    namespace, _, name = ref.rpartition("/")
    return (namespace if "/" in ref else None), name


def profile_not_found(ref: str) -> str:
    """The one line when no profile ``ref`` is found (the operator's, and explain's)."""
    return (
        f"profile {ref} is not found: list them with "
        "kubectl get podtapprofiles -A and kubectl get podtapclusterprofiles"
    )


def encode_profile(profile: FoundProfile) -> str:
    """The header's value for ``profile`` (ASCII: JSON escapes the rest)."""
    spec = profile.spec.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    return json.dumps({"v": VERSION, "ref": profile.ref, **spec}, separators=(",", ":"))


def decode_profile(text: str) -> FoundProfile:
    """The profile a header's value carries; PolicyError in one line if it is not one."""
    try:
        doc: Any = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"the operator's {PROFILE_HEADER} header is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ref"), str):
        raise PolicyError(f"the operator's {PROFILE_HEADER} header names no profile")
    version, ref = doc.pop("v", None), doc.pop("ref")
    if version != VERSION:
        raise PolicyError(
            f"the operator sent profile {ref} as version {version!r} of {PROFILE_HEADER}, this "
            f"podtap reads version {VERSION}: use a podtap as recent as the operator"
        )
    namespace, name = parse_profile_ref(ref)
    return FoundProfile(name=name, namespace=namespace, spec=parse_profile_spec(doc, name=ref))
