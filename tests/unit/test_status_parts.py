"""``parta status``'s own parts (issue 18.2): the last sync from the store, and every TLS
certificate's expiry, read from a real TLS handshake."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import Metric

from appservice.metrics import StoreCollector
from appservice.store import LAST_SYNC, Store
from kernel.config import SchoolConfig
from kernel.tls import endpoints as tls_endpoints
from parta.status import CERTIFICATE_DAYS, certificate, last_sync


def _config(tmp_path: Path) -> SchoolConfig:
    return SchoolConfig(server_name="school.example", state_dir=tmp_path)


def test_a_school_never_synced_is_not_a_problem(tmp_path: Path) -> None:
    Store.open(_config(tmp_path).store_url(), now_ms=lambda: 0).close()
    part = last_sync(_config(tmp_path))
    assert part.ok
    assert "ещё не было" in part.detail


def test_a_sync_with_failed_actions_is_a_problem_named_with_its_first_reason(
    tmp_path: Path,
) -> None:
    store = Store.open(_config(tmp_path).store_url(), now_ms=lambda: 0)
    body = {"finished_s": time.time(), "actions": 40, "failed": 2, "total_s": 3.5}
    store.save_snapshot(LAST_SYNC, {**body, "problems": ["пригласить @a: M_FORBIDDEN"]})
    store.close()
    part = last_sync(_config(tmp_path))
    assert not part.ok
    assert "не выполнено 2 из 40" in part.detail
    assert "M_FORBIDDEN" in part.detail
    store = Store.open(_config(tmp_path).store_url(), now_ms=lambda: 0)
    store.save_snapshot(LAST_SYNC, {**body, "failed": 0})
    store.close()
    assert last_sync(_config(tmp_path)).ok


def test_the_endpoints_are_the_public_https_urls_and_the_federation_listener() -> None:
    config = SchoolConfig.model_validate(
        {
            "server_name": "school.example",
            "homeserver": {"public_url": "https://matrix.school.example", "federation_port": 8448},
            "diary": {"public_url": "https://diary.school.example:8443"},
            "call_bridge": {"public_url": "http://127.0.0.1:8090"},
        }
    )
    assert tls_endpoints(config) == [
        ("matrix.school.example", 443),
        ("diary.school.example", 8443),
        ("127.0.0.1", 8448),
    ]


def _certificate(tmp_path: Path, days: int) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days, hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context


async def _serving(context: ssl.SSLContext) -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("days", "ok", "says"),
    [(90, True, "(90 дн.)"), (CERTIFICATE_DAYS - 5, False, "скоро истечёт"), (-3, False, "истёк")],
)
async def test_a_certificate_s_expiry_is_read_from_the_handshake(
    tmp_path: Path, days: int, ok: bool, says: str
) -> None:
    async for port in _serving(_certificate(tmp_path, days)):
        part = await certificate("127.0.0.1", port)
        assert part.ok is ok, part
        assert says in part.detail


async def test_nobody_listening_is_said() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    part = await certificate("127.0.0.1", port)
    assert not part.ok
    assert "не отвечает" in part.detail


async def test_the_appservice_exports_each_certificate_s_expiry_and_the_disk(
    tmp_path: Path,
) -> None:
    """For the monitoring's alert: read once an hour, 0 when nobody answers."""
    store = Store.open(_config(tmp_path).store_url(), now_ms=lambda: 0)
    async for port in _serving(_certificate(tmp_path, 10)):
        collector = StoreCollector(store, tmp_path, [("127.0.0.1", port), ("127.0.0.1", 1)])
        families = await asyncio.to_thread(_collected, collector)
    store.close()
    series = {
        s.labels["endpoint"]: s.value
        for f in families
        for s in f.samples
        if s.name.endswith("expiry_timestamp_seconds")
    }
    assert series[f"127.0.0.1:{port}"] == pytest.approx(
        (datetime.now(UTC) + timedelta(days=10, hours=1)).timestamp(), abs=120
    )
    assert series["127.0.0.1:1"] == 0
    disk = [s.value for f in families for s in f.samples if s.name.endswith("disk_used_ratio")]
    assert 0 < disk[0] < 1


def _collected(collector: StoreCollector) -> list[Metric]:
    return list(collector.collect())
