"""``diary-link``: the diary killed -9 while a person links their profile in «Чаты».

A new pupil arrives (everybody else is synced; the appservice and the diary hold the new
diary). The pupil signs in to the diary and asks for a new account («Нет учётной записи»:
a phone and a new password); at a random moment the diary is killed and started again.
The person must be linked once or not at all, never half:

- linked: the diary records the account the appservice made, with the phone and the new
  password, and the account is in exactly the pupil's rooms;
- not linked: no account on either side, and the old password still signs in.

No intent may be left over once the restarted diary has finished what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
import time

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

from appservice.diary_sync.model import Diary
from kernel.ids import RoomID, SourcedId, UserID
from parta.bench.faults import Harness
from parta.bench.faults_link import newcomer, rooms_of
from parta.bench.faults_school import Check, converge, rooms_hold
from web_client.link_store import LinkStore
from web_client.store import DiaryStore

FINISH_S = 60.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _csrf(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    found = _CSRF.search(page.text)
    if found is None:
        raise RuntimeError(f"no csrf field on {path} ({page.status_code})")
    return found.group(1)


async def _sign_in(http: httpx.AsyncClient, login: str, password: str) -> bool:
    csrf = await _csrf(http, "/login")
    answer = await http.post("/login", data={"login": login, "password": password, "csrf": csrf})
    return answer.status_code in (302, 303)


async def _ask(http: httpx.AsyncClient, phone: str, password: str) -> int:
    csrf = await _csrf(http, "/chats/link")
    form = {"phone": phone, "password": password, "password2": password, "csrf": csrf}
    answer = await http.post("/chats/link/new", data=form)
    return answer.status_code


def _verifies(stored: str | None, password: str) -> bool:
    try:
        return stored is not None and PasswordHasher().verify(stored, password)
    except Argon2Error:
        return False


def _arrive(harness: Harness, diary: Diary, person: SourcedId, old: str) -> str:
    """The new diary in the diary's store, the newcomer with a diary password; its login."""
    diaries = DiaryStore.open(harness.stack.config.diary_store_url())
    try:
        diaries.load(diary, diaries.timetable())
        diaries.set_password_hash(person, PasswordHasher().hash(old))
        account = diaries.account(person)
        if account is None:
            raise RuntimeError(f"the diary did not load {person}")
        return account.login
    finally:
        diaries.close()


async def _finished(harness: Harness) -> int:
    """Intents still waiting once the restarted diary has had its time to finish them."""
    diaries = DiaryStore.open(harness.stack.config.diary_store_url())
    try:
        links = LinkStore(diaries.engine)
        deadline = time.monotonic() + FINISH_S
        while True:
            left = len(links.pending())
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)  # the diary's start finishes them; bounded
    finally:
        diaries.close()


async def diary_during_link(harness: Harness, n: int) -> list[Check]:
    diary, person = await newcomer(harness)
    old, password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    login = _arrive(harness, diary, person, old)
    phone = f"+7901{harness.changes:07d}"
    stack = harness.stack
    async with httpx.AsyncClient(base_url=stack.config.diary_url, timeout=60) as http:
        if not await _sign_in(http, login, old):
            return [Check("the pupil signs in to the diary", False, login)]
        asked = asyncio.ensure_future(_ask(http, phone, password))
        await asyncio.sleep(harness.rng.uniform(0.0, 0.6))  # the fault's random point
        point = Check("point", not asked.done(), "mid-link" if not asked.done() else "after it")
        assert stack.diary is not None  # noqa: S101 - the stack is running
        stack.diary.send_signal(signal.SIGKILL)
        stack.diary.wait()
        with contextlib.suppress(httpx.HTTPError):  # the page died with the diary
            await asked
    await asyncio.to_thread(stack.start_diary)
    left = await _finished(harness)
    diaries = DiaryStore.open(stack.config.diary_store_url())
    try:
        account = diaries.account(person)
    finally:
        diaries.close()
    linked = harness.store.accounts().get(person)
    recorded = account.matrix_user_id if account else None
    whole = (
        linked is not None
        and recorded == linked.user_id
        and account is not None
        and account.phone == phone
        and _verifies(account.password_hash, password)
    )
    untouched = (
        linked is None
        and recorded is None
        and account is not None
        and _verifies(account.password_hash, old)
    )
    theirs: set[RoomID] = set()
    held: set[RoomID] = set()
    if whole:
        theirs, held = await rooms_of(harness, diary, UserID(recorded or ""))
    state = "linked" if whole else "not linked" if untouched else "HALF"
    checks = [
        point,
        Check("no intent left once the diary is back", left == 0, f"{left} waiting"),
        Check("linked once or not at all, never half", whole or untouched,
              f"{state}: diary {recorded}, appservice {linked.user_id if linked else None}"),
        Check("a linked pupil is in exactly their rooms", not whole or held == theirs,
              f"{len(held)} of {len(theirs)}"),
        *await converge(harness.school, diary),
    ]  # fmt: skip
    return checks + await rooms_hold(harness.school, harness.store, harness.client, diary)
