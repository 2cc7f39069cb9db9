"""``synapse-link``: Synapse killed -9 while a person links their profile.

A new pupil arrives (everybody else is synced; the appservice holds the new diary), then
asks to be linked, as the diary does (``POST /_parta/v1/link``); at a random moment Synapse
is killed and restarted at once. The link must ride it out; if it could not, the person's
second try must finish it. Either way the person has one account, in exactly their rooms.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from appservice.diary_sync.model import Diary
from appservice.diary_sync.snapshot import to_snapshot
from appservice.school_sync import SNAPSHOT, SyncOptions
from kernel.contracts.appservice import LINK_PATH
from kernel.ids import RoomID, SourcedId, UserID
from kernel.secrets import read_secret_file
from parta.bench.faults import Harness
from parta.bench.faults_school import NEWCOMERS, Check, converge, mutate, rooms_hold


def without(diary: Diary, person: SourcedId) -> Diary:
    return replace(
        diary,
        people={p: who for p, who in diary.people.items() if p != person},
        enrollments=frozenset(e for e in diary.enrollments if e.person_id != person),
        guardianships=frozenset(
            g for g in diary.guardianships if person not in (g.parent_id, g.student_id)
        ),
    )


async def _link(harness: Harness, person: SourcedId) -> tuple[int, dict[str, object]]:
    config = harness.stack.config
    token = read_secret_file(config.link_token_file)
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(
            config.appservice_url + LINK_PATH,
            json={"person_id": person},
            headers={"Authorization": f"Bearer {token}"},
        )
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return answer.status_code, body if isinstance(body, dict) else {}


async def newcomer(harness: Harness) -> tuple[Diary, SourcedId]:
    """A changed diary with one new pupil not yet synced: everybody else is in, and the
    appservice holds the diary with the pupil (what a link reads)."""
    harness.changes += 1
    diary = mutate(harness.diary, harness.rng, harness.changes)
    person = SourcedId(f"stu-fault-{harness.changes}-{harness.rng.randrange(NEWCOMERS)}")
    await harness.school.run(without(diary, person), SyncOptions(eager=True))
    harness.store.save_snapshot(SNAPSHOT, to_snapshot(diary))
    harness.diary = diary
    return diary, person


async def rooms_of(harness: Harness, diary: Diary, user: UserID) -> tuple[set[RoomID], set[RoomID]]:
    """The rooms ``user`` should be in by the diary, and those Synapse says they joined."""
    known = harness.store.room_ids()
    theirs = {
        known[key]
        for key, room in harness.school.desired(diary, eager=False).rooms.items()
        if user in room.members and key in known
    }
    joined = await harness.client.request("GET", "/_matrix/client/v3/joined_rooms", as_user=user)
    return theirs, {RoomID(r) for r in joined.get("joined_rooms", [])}


async def synapse_during_link(harness: Harness, n: int) -> list[Check]:
    diary, person = await newcomer(harness)
    asked = asyncio.ensure_future(_link(harness, person))
    await asyncio.sleep(harness.rng.uniform(0.0, 0.3))  # the fault's random point
    point = Check("point", not asked.done(), "mid-link" if not asked.done() else "after it")
    synapse = harness.stack.synapse
    assert synapse is not None  # noqa: S101 - the stack is running
    synapse.crash()
    synapse.start()  # at once, as its supervisor would
    await asyncio.to_thread(synapse.wait_ready)
    status, body = await asked
    rode_out = status == 200 and not body.get("failed")
    if not rode_out:
        status, body = await _link(harness, person)  # the person tries again
    account = harness.store.accounts().get(person)
    user = UserID(str(body.get("user_id", "")))
    theirs, held = await rooms_of(harness, diary, user)
    checks = [
        point,
        Check("the link rides out the restart", rode_out, f"{status}: {body}"[:200]),
        Check("one account, the one the diary was told", account is not None
              and account.user_id == user, f"{account} / {user}"),
        Check("in exactly their rooms", held == theirs, f"{len(held)} of {len(theirs)}"),
        *await converge(harness.school, diary),
    ]  # fmt: skip
    return checks + await rooms_hold(harness.school, harness.store, harness.client, diary)
