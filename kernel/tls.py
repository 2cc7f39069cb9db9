"""When the certificates a school serves expire, read from a real TLS handshake (not trusted:
an expired or self-signed certificate is exactly what this is for). ``parta status`` and the
appservice's metrics (for the monitoring's alert) both ask."""

from __future__ import annotations

import socket
import ssl
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509

from kernel.config import SchoolConfig

WAIT_S = 3.0


class NoCertificate(Exception):
    """Nobody answers there, or not with TLS."""


def endpoints(config: SchoolConfig) -> list[tuple[str, int]]:
    """Every TLS address the school serves: its public https URLs and Synapse's federation."""
    found: list[tuple[str, int]] = []
    for url in (config.homeserver_public_url, config.diary_url, config.call_bridge_url):
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            found.append((parts.hostname, parts.port or 443))
    if config.homeserver.federation_port is not None:
        found.append((config.homeserver.bind_host, config.homeserver.federation_port))
    return list(dict.fromkeys(found))


def expiry(host: str, port: int, wait_s: float = WAIT_S) -> datetime:
    """The ``notAfter`` (UTC) of the certificate served at ``host:port``; blocking."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=wait_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as e:
        raise NoCertificate(f"не отвечает ({type(e).__name__})") from e
    if not der:
        raise NoCertificate("нет сертификата")
    return x509.load_der_x509_certificate(der).not_valid_after_utc
