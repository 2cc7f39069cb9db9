"""The policy module's questions, answered from the last synced diary (cached).

Who may enter a room that is not the diary's, who may create or open a room, whom the
user directory shows, and a sender's role for the bots; the rules are
:mod:`appservice.diary_sync.safety`'s.
The diary and accounts are re-read only when the store's generation moves.
"""

from __future__ import annotations

from appservice.diary_sync.model import Diary
from appservice.diary_sync.safety import (
    Decision,
    NewRoom,
    RoomFacts,
    Rules,
    School,
    holds_a_student,
    may_create_room,
    may_enter,
    may_join,
    may_open,
    may_see,
)
from appservice.diary_sync.snapshot import from_snapshot
from appservice.school_sync import PUPPET_PREFIX, SNAPSHOT
from appservice.store import Store
from kernel.config import SafetyConfig, SafetyOverride
from kernel.ids import ServerName, SourcedId, UserID, escape_localpart, user_id


def rules_of(config: SafetyConfig) -> Rules:
    def plain(overrides: dict[str, SafetyOverride]) -> dict[SourcedId, dict[str, bool]]:
        return {
            SourcedId(key): {
                name: value for name, value in override.model_dump().items() if value is not None
            }
            for key, override in overrides.items()
        }

    return Rules(
        students_may_create_rooms=config.students_may_create_rooms,
        students_may_invite=config.students_may_invite,
        class_overrides=plain(dict(config.classes)),
        person_overrides=plain(dict(config.people)),
    )


class SafetyOracle:
    def __init__(self, store: Store, rules: Rules, server: ServerName, bot: UserID) -> None:
        self._store, self._rules, self._server, self._bot = store, rules, server, bot
        self._cached: tuple[int, School] | None = None
        self._diary: tuple[int, Diary] | None = None

    def school(self) -> School | None:
        """Rebuilt when the people move; the snapshot is parsed again only when it changed
        (linking one person moves an account, not the diary)."""
        diary_generation, generation = self._store.generations()
        if self._cached is not None and self._cached[0] == generation:
            return self._cached[1]
        if self._diary is None or self._diary[0] != diary_generation:
            stored = self._store.snapshot(SNAPSHOT)
            if stored is None:
                return None
            self._diary = (diary_generation, from_snapshot(stored))
        diary = self._diary[1]
        known = self._store.accounts()
        accounts = {
            pid: known[pid].user_id
            if pid in known
            else user_id(PUPPET_PREFIX + escape_localpart(pid), self._server)
            for pid in diary.people
        }
        school = School.of(diary, accounts, self._bot)
        self._cached = (generation, school)
        return school

    def may_enter(self, room: RoomFacts, newcomer: UserID, inviter: UserID | None) -> Decision:
        school = self.school()
        if school is None:
            return Decision(True)
        return may_enter(school, self._rules, room, newcomer, inviter)

    def may_create_room(self, room: NewRoom) -> tuple[Decision, bool]:
        """The decision, and whether the room must stay on this server (a student in it)."""
        school = self.school()
        if school is None:
            return Decision(True), False
        local_only = holds_a_student(school, [room.creator, *room.invitees])
        return may_create_room(school, self._rules, room), local_only

    def may_open(self, members: frozenset[UserID]) -> Decision:
        school = self.school()
        return Decision(True) if school is None else may_open(school, members)

    def may_join(self, user: UserID, federates: bool) -> Decision:
        school = self.school()
        return Decision(True) if school is None else may_join(school, user, federates)

    def may_see(self, viewer: UserID, user: UserID) -> bool:
        school = self.school()
        return school is None or may_see(school, viewer, user)

    def role(self, user: UserID) -> str | None:
        """The roster's role of a Matrix user (``None``: not one of the diary's people)."""
        school = self.school()
        found = school.role(user) if school is not None else None
        return found.value if found is not None else None
