"""Calls through a real coturn: participants who may only use relayed candidates.

A school network often lets browsers out only through the school's TURN server. Here
every participant's aiortc peer is limited to relay candidates, with the short-lived
credentials the bridge signs for each of them (coturn's ``use-auth-secret``), so media
can only flow if coturn accepts those credentials and relays both ways.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint
from aiortc import RTCIceCandidate, RTCPeerConnection

from appservice.school_sync import SchoolSync, SyncOptions
from kernel.ids import SourcedId
from kernel.matrix import MatrixClient
from parta.bench.call_peer import CallPeer, mint_openid, place, until
from parta.stack import SchoolStack
from tests.ports import free_port
from tests.school import small_school
from web_client.store import DistanceLesson

pytestmark = pytest.mark.integration
PREFIX = "turn"


def sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


class Coturn:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            raise RuntimeError("turnserver is missing: `make test` installs Debian's coturn")
        self.port = free_port()
        self.secret = secrets.token_urlsafe(24)
        relay = free_port()
        self.log = folder / "coturn.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "-n",  # no configuration file: everything is on this line
                    "-v",  # says when its listeners are open
                    "--listening-ip=127.0.0.1",
                    f"--listening-port={self.port}",
                    "--relay-ip=127.0.0.1",
                    f"--min-port={relay}",
                    f"--max-port={relay + 50}",
                    "--use-auth-secret",
                    f"--static-auth-secret={self.secret}",
                    "--realm=parta.test",
                    "--no-tls",
                    "--no-dtls",
                    "--no-tcp-relay",
                    "--allow-loopback-peers",  # the bridge listens on loopback here
                    "--no-cli",
                    "--simple-log",
                    "--log-file=stdout",
                    f"--pidfile={folder / 'coturn.pid'}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self, deadline_s: float = 20.0) -> None:
        """Ready when coturn says its UDP listener is open (polled, bounded)."""
        wanted = f"UDP listener opened on: 127.0.0.1:{self.port}"
        started = time.monotonic()
        while wanted not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() - started > deadline_s:
                self.process.kill()
                raise RuntimeError("coturn did not start:\n" + self.log.read_text()[-2000:])
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    running = Coturn(tmp_path_factory.mktemp("coturn"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def relayed_bridge(stack: SchoolStack, coturn: Coturn) -> Iterator[SchoolStack]:
    """The session's bridge restarted with coturn's address and secret; restored after."""
    before = stack.config
    secret_file = before.state_dir / "secrets" / "turn_secret"
    secret_file.write_text(coturn.secret, encoding="utf-8")
    secret_file.chmod(0o600)
    bridge = before.call_bridge.model_copy(
        update={
            "turn_urls": (f"turn:127.0.0.1:{coturn.port}?transport=udp",),
            "turn_secret_file": secret_file,
        }
    )
    stack.reconfigure_bridge(before.model_copy(update={"call_bridge": bridge}))
    try:
        yield stack
    finally:
        stack.reconfigure_bridge(before)


@pytest.fixture(scope="module")
async def lesson(stack: SchoolStack, school: SchoolSync) -> str:
    diary = small_school(PREFIX)
    await school.run(diary, SyncOptions(eager=True))
    now = datetime.now(ZoneInfo(stack.config.diary.timezone)).replace(tzinfo=None, microsecond=0)
    starts = now - timedelta(minutes=5)
    lesson_id = f"{sid('relayed')}@{starts.date().isoformat()}"
    store = stack.open_diary_store()
    try:
        store.load(diary, store.timetable())
        store.add_distance_lesson(
            DistanceLesson(
                lesson_id,
                sid("5a-math"),
                starts,
                starts + timedelta(minutes=45),
                "Математика",
                sid("t4"),
            ),
            now,
        )
    finally:
        store.close()
    return lesson_id


async def openid(
    client: MatrixClient, school: SchoolSync, http: httpx.AsyncClient, person: str
) -> dict[str, str]:
    return await mint_openid(client, http, school.puppet_id(sid(person)))


async def test_relay_only_participants_see_each_other_through_coturn(
    relayed_bridge: SchoolStack,
    coturn: Coturn,
    client: MatrixClient,
    school: SchoolSync,
    lesson: str,
    http: httpx.AsyncClient,
) -> None:
    call = f"lesson/{lesson}"
    ws_url, _ = await place(relayed_bridge, call)
    teacher = CallPeer(ws_url, call, await openid(client, school, http, "t4"), relay_only=True)
    student = CallPeer(ws_url, call, await openid(client, school, http, "s1"), relay_only=True)
    try:
        welcome = await teacher.join()
        turn = [s for s in welcome["ice_servers"] if s["urls"][0].startswith("turn:")]
        assert len(turn) == 1
        expires, user = turn[0]["username"].split(":", 1)
        assert user == school.puppet_id(sid("t4"))  # credentials signed for this participant
        assert int(expires) > datetime.now().timestamp()
        await teacher.publish(shade=200)
        await student.join()
        await student.publish(shade=60)
        t_id, s_id = teacher.welcome["you"], student.welcome["you"]

        def both_see() -> bool:
            a, b = student.video_from(t_id), teacher.video_from(s_id)
            return bool(a and b and len(a.shades) >= 3 and len(b.shades) >= 3)

        await until(both_see, deadline_s=30)
        from_teacher = student.video_from(t_id)
        assert from_teacher is not None
        assert all(abs(s - 200) < 12 for s in from_teacher.shades), from_teacher.shades
        for peer in (teacher, student):
            assert peer.pc is not None
            local = _local_candidates(peer.pc)
            assert local, "no candidates gathered"
            assert {c.type for c in local} == {"relay"}  # nothing but coturn's addresses
    finally:
        await student.close()
        await teacher.close()


def _local_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """The ICE candidates the peer offered (aiortc keeps them on its ICE gatherer)."""
    found: list[RTCIceCandidate] = []
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.receiver.transport.transport.iceGatherer
        found.extend(gatherer.getLocalCandidates())
    return found


async def test_coturn_takes_the_bridges_credentials_and_refuses_altered_ones(
    relayed_bridge: SchoolStack,
    coturn: Coturn,
    client: MatrixClient,
    school: SchoolSync,
    lesson: str,
    http: httpx.AsyncClient,
) -> None:
    """A TURN allocation straight at coturn: the signed credentials work, a forged one not."""
    call = f"lesson/{lesson}"
    ws_url, _ = await place(relayed_bridge, call)
    student = CallPeer(ws_url, call, await openid(client, school, http, "s2"))
    try:
        welcome = await student.join()
    finally:
        await student.close()
    turn = next(s for s in welcome["ice_servers"] if s["urls"][0].startswith("turn:"))
    server = ("127.0.0.1", coturn.port)
    transport, _protocol = await create_turn_endpoint(
        asyncio.DatagramProtocol, server, turn["username"], turn["credential"]
    )
    relayed = transport.get_extra_info("sockname")
    transport.close()
    assert relayed[0] == "127.0.0.1"  # coturn gave a relay address
    expires, user = turn["username"].split(":", 1)
    for username, password in (
        (turn["username"], "forged-credential"),
        (f"{int(expires) + 3600}:{user}", turn["credential"]),  # a longer life, same signature
    ):
        with pytest.raises(TransactionFailed) as refused:
            await create_turn_endpoint(asyncio.DatagramProtocol, server, username, password)
        assert refused.value.response.attributes["ERROR-CODE"][0] == 401
