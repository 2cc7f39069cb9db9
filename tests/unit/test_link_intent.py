"""A link is finished once or not at all, even when the diary dies between the appservice's
link and its own record of it; the new phone and password come with the account only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from appservice.diary_sync.timetable import Timetable
from kernel.contracts.appservice import Linked
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.errors import LinkError
from web_client.link_intent import Links
from web_client.link_store import LinkStore
from web_client.store import DiaryStore

PERSON = SourcedId("li-s1")
NOW = datetime(2026, 9, 1, 8, 0)


class Killed(BaseException):
    """The diary's process dying mid-request (nothing after it runs)."""


class Appservice:
    """Stands in for the appservice's idempotent link: the same account every time."""

    def __init__(self) -> None:
        self.linked: dict[str, int] = {}
        self.accounts: list[str | None] = []
        self.answer: BaseException | None = None
        self.after_linking: BaseException | None = None

    async def link(self, person: str, user_id: str | None = None) -> Linked:
        if self.answer is not None:
            raise self.answer
        self.linked[person] = self.linked.get(person, 0) + 1
        self.accounts.append(user_id)
        if self.after_linking is not None:
            raise self.after_linking
        account = user_id or f"@{person}:school.test"
        return Linked(user_id=account, rooms=["!a:school.test"], actions=1, failed=[])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiaryStore]:
    opened = DiaryStore.open(f"sqlite:///{tmp_path / 'diary.db'}")
    opened.load(small_school("li"), Timetable())
    opened.set_password_hash(PERSON, "old-hash")
    yield opened
    opened.close()


def _recorded(store: DiaryStore) -> tuple[str | None, str | None, str | None]:
    """What the diary holds of the person's link: account, phone, password hash."""
    account = store.account(PERSON)
    assert account is not None
    return account.matrix_user_id, account.phone, account.password_hash


def _links(store: DiaryStore, appservice: Appservice, slept: list[float] | None = None) -> Links:
    async def sleep(seconds: float) -> None:
        if slept is not None:
            slept.append(seconds)
            appservice.answer = None  # the appservice is back after the first wait

    return Links(LinkStore(store.engine), appservice.link, lambda: NOW, sleep)


async def test_a_link_records_the_account_phone_and_password_together(store: DiaryStore) -> None:
    appservice = Appservice()
    await _links(store, appservice).link(PERSON, "+79001112233", "new-hash")
    assert _recorded(store) == ("@li-s1:school.test", "+79001112233", "new-hash")
    assert LinkStore(store.engine).pending() == []


async def test_a_diary_killed_after_the_appservice_linked_finishes_the_link_at_its_start(
    store: DiaryStore,
) -> None:
    appservice = Appservice()
    appservice.after_linking = Killed()
    with pytest.raises(Killed):
        await _links(store, appservice).link(PERSON, "+79001112233", "new-hash")
    half = store.account(PERSON)
    assert half is not None
    assert (half.matrix_user_id, half.password_hash) == (None, "old-hash")  # not yet: old works

    appservice.after_linking = None
    restarted = _links(store, appservice)  # the diary's next start
    assert await restarted.finish_pending() == 0
    assert _recorded(store) == ("@li-s1:school.test", "+79001112233", "new-hash")
    assert LinkStore(store.engine).pending() == []
    assert appservice.linked == {PERSON: 2}  # linked again, idempotently: the same account


async def test_a_refused_link_leaves_nothing_behind(store: DiaryStore) -> None:
    appservice = Appservice()
    appservice.answer = LinkError("Привязка отклонена: student")
    with pytest.raises(LinkError):
        await _links(store, appservice).link(PERSON, "+79001112233", "new-hash")
    account = store.account(PERSON)
    assert account is not None
    assert (account.matrix_user_id, account.password_hash) == (None, "old-hash")
    assert LinkStore(store.engine).pending() == []


async def test_a_link_the_appservice_could_not_answer_is_finished_when_it_answers(
    store: DiaryStore,
) -> None:
    appservice = Appservice()
    appservice.answer = LinkError("Сервер чатов школы не отвечает.", transient=True)
    slept: list[float] = []
    links = _links(store, appservice, slept)
    with pytest.raises(LinkError):
        await links.link(PERSON, None, None)
    assert links._task is not None
    await links._task
    assert slept == [1.0]
    account = store.account(PERSON)
    assert account is not None
    assert account.matrix_user_id == "@li-s1:school.test"
    assert account.password_hash == "old-hash"  # «У меня уже есть»: no new password


async def test_a_phone_another_person_took_meanwhile_does_not_stop_the_link(
    store: DiaryStore,
) -> None:
    """Checked when asked, but two people may ask for one phone at once: the second link
    stands, without the phone, rather than failing on the phone's uniqueness for good."""
    store.set_phone(SourcedId("li-s2"), "+79001112233")
    await _links(store, Appservice()).link(PERSON, "+79001112233", "new-hash")
    assert _recorded(store) == ("@li-s1:school.test", None, "new-hash")


async def test_an_account_the_person_had_is_linked_at_the_diary_s_start_if_it_died_meanwhile(
    store: DiaryStore,
) -> None:
    """«У меня есть учётная запись»: the account proved with its password is in the intent, so
    the link finished at the next start is to that account, not to a new one."""
    appservice = Appservice()
    appservice.after_linking = Killed()
    own = "@ivanova:school.test"
    with pytest.raises(Killed):
        await _links(store, appservice).link(PERSON, user_id=own)
    assert _recorded(store) == (None, None, "old-hash")

    appservice.after_linking = None
    assert await _links(store, appservice).finish_pending() == 0
    assert _recorded(store) == (own, None, "old-hash")
    assert appservice.accounts == [own, own]
    assert LinkStore(store.engine).pending() == []
