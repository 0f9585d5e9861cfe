"""Service-account JWTs as kube-apiserver signs them: RS256 with the cluster's account key.

A token is `base64url(header).base64url(claims).base64url(signature)` (RFC 7519), the header
`{"alg": "RS256", "kid": ...}` where kid is the key's id as upstream derives it (the
SHA-256 of the DER public key, base64url). Only the signature, the issuer and the times are
checked here; whether the account, pod or secret the claims name still exist with the same
uid is the authenticator's business (`tokenauth.py`).
"""

from __future__ import annotations

import base64
import calendar
import functools
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
LEEWAY = 60  # seconds, as go-jose's default leeway upstream uses
Claims = dict[str, Any]


class TokenInvalid(Exception):
    """A token that is a service-account JWT of this issuer but fails a check; the message is
    the one kube-apiserver gives (`service account token has expired`)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signer:
    """The cluster's service-account key (kube-apiserver's --service-account-signing-key)."""

    key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> Signer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    @functools.cache
    def ephemeral(cls) -> Signer:
        """One key per process, for API servers that keep nothing (tests, `serving`)."""
        return cls.generate()

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key kept at `path` (0600), made there the first time."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return cls(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        signer = cls.generate()
        pem = signer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        return signer

    @property
    def kid(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _b64(hashlib.sha256(der).digest())

    def sign(self, claims: Claims) -> str:
        header = {"alg": "RS256", "kid": self.kid}
        head = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{_b64(signature)}"

    def verify(self, token: str, *, now: float | None = None) -> Claims | None:
        """The claims of a token this key signed for ISSUER; None when it is not one (another
        authenticator's token); TokenInvalid when it is one but expired or not yet valid."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            signature = _unb64(parts[2])
            self.key.public_key().verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(_unb64(parts[1]))
        except (InvalidSignature, ValueError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        check_times(claims, now=time.time() if now is None else now)
        return claims


def parse_time(stamp: str) -> float:
    """A Kubernetes timestamp (`2026-01-02T03:04:05Z`) as seconds since the epoch."""
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def check_times(claims: Claims, *, now: float) -> None:
    if float(claims.get("exp", 0)) + LEEWAY < now:
        raise TokenInvalid("service account token has expired")
    if float(claims.get("nbf", 0)) - LEEWAY > now:
        raise TokenInvalid("service account token is not valid yet")
    if float(claims.get("iat", 0)) - LEEWAY > now:
        raise TokenInvalid("service account token is issued in the future")


@dataclass(frozen=True)
class Ref:
    """An object a token names: its name and uid."""

    name: str
    uid: str


def bound_claims(
    *,
    namespace: str,
    account: Ref,
    audiences: list[str],
    expiration: int,
    now: float,
    pod: Ref | None = None,
    secret: Ref | None = None,
    node: Ref | None = None,
) -> Claims:
    """The claims of a bound token (upstream's serviceaccount.Claims), valid from `now`."""
    issued = int(now)
    kube: Claims = {
        "namespace": namespace,
        "serviceaccount": {"name": account.name, "uid": account.uid},
    }
    for field, ref in (("pod", pod), ("secret", secret), ("node", node)):
        if ref is not None:
            kube[field] = {"name": ref.name, "uid": ref.uid}
    return {
        "aud": audiences,
        "exp": issued + expiration,
        "iat": issued,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": kube,
        "nbf": issued,
        "sub": f"system:serviceaccount:{namespace}:{account.name}",
    }


def audiences_of(claims: Claims) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [str(a) for a in aud] if isinstance(aud, list) else []


def go_quoted(items: list[str] | tuple[str, ...]) -> str:
    """A []string as Go's %q prints it: `["a" "b"]`."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"
