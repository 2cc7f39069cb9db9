"""Key material a homeserver needs on disk, created once and then left alone.

A server's signing key is its identity to its peers and the TLS certificate is pinned by
nothing but still served: regenerating either on a re-render would break federation and
invalidate signatures, so every function here only creates what is missing.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from signedjson.key import generate_signing_key, write_signing_keys

_CERT_LIFETIME = datetime.timedelta(days=3650)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a file that is 0600 from its first byte.

    Atomic so a crash never leaves half a key (or half a config) behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def ensure_signing_key(path: Path) -> None:
    """An ed25519 key in Synapse's own format, written with signedjson as Synapse does."""
    if path.exists():
        return
    buffer = io.StringIO()
    write_signing_keys(buffer, [generate_signing_key(f"a_{secrets.token_hex(2)}")])
    write_private(path, buffer.getvalue().encode("ascii"))


def ensure_tls_certificate(certificate: Path, private_key: Path) -> None:
    """A self-signed certificate for ``localhost`` and ``127.0.0.1``.

    Enough for homeservers federating on one machine: peers are told not to verify it
    (``federation_verify_certificates: false``); readiness checks pin it as their only CA.
    """
    if certificate.exists() and private_key.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(
        private_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    certificate.write_bytes(_self_signed(key).public_bytes(serialization.Encoding.PEM))


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _CERT_LIFETIME)
        .add_extension(alt_names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
