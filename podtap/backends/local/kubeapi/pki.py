"""A certificate authority per embedded cluster, its serving certificate and client certificates.

kubectl and helm insist on HTTPS with a CA they are given in the kubeconfig, and identify users
the way kube-apiserver does: a client certificate's CN is the user name and each O is a group.
So each cluster makes its own CA (never shared between clusters, so a certificate from one
cannot log in to another), signs a serving certificate for 127.0.0.1/localhost, and signs
client certificates for the identities it hands out. Keys are EC P-256: small and fast to make
(a test makes several per second). Everything is PEM bytes so it can be written to the state
directory and read back with `load_ca`.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=3650)
_BACKDATE = datetime.timedelta(minutes=5)  # tolerate small clock differences, as kubeadm does


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, *, cert: Path, key: Path) -> None:
        """Write both files; the key readable by its owner only."""
        cert.write_bytes(self.cert_pem)
        key.touch(mode=0o600)
        key.chmod(0o600)
        key.write_bytes(self.key_pem)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ClusterCA:
    """Signs serving and client certificates for one cluster."""

    def __init__(self, *, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self._cert = cert
        self._key = key

    @classmethod
    def create(cls, *, cluster: str) -> ClusterCA:
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"podtap-{cluster}-ca")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - _BACKDATE)
            .not_valid_after(_now() + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    @classmethod
    def load(cls, pair: KeyPair) -> ClusterCA:
        key = serialization.load_pem_private_key(pair.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the cluster CA key is not an EC key")
        return cls(cert=x509.load_pem_x509_certificate(pair.cert_pem), key=key)

    @property
    def pair(self) -> KeyPair:
        return KeyPair(
            cert_pem=self._cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(self._key),
        )

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def _sign(
        self,
        *,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
    ) -> KeyPair:
        key = _new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - _BACKDATE)
            .not_valid_after(_now() + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def serving(self, *, hosts: list[str]) -> KeyPair:
        """A server certificate valid for each host (IP addresses and DNS names)."""
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        return self._sign(subject=subject, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)

    def client(self, *, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        """A client certificate that authenticates as `user` in `groups` (CN and O's)."""
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        return self._sign(subject=x509.Name(attrs), usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def server_ssl_context(*, ca_pem: bytes, serving: KeyPair, workdir: Path) -> ssl.SSLContext:
    """TLS for the API: client certificates are asked for but optional (tokens are the other way).

    `ssl` loads certificates only from files, so they are written into `workdir` (private).
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = workdir / "serving.crt", workdir / "serving.key"
    serving.write(cert=cert, key=key)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cadata=ca_pem.decode())
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
