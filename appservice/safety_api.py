"""The policy module's questions, answered from the last synced diary (cached).

``/_parta/v1/may_invite``, ``/_parta/v1/may_create_room`` and the ``federates`` side
of ``/_parta/v1/may_join``; the rules are :mod:`appservice.diary_sync.safety`'s.
The diary and accounts are re-read only when the store's generation moves.
"""

from __future__ import annotations

from appservice.diary_sync.model import Diary
from appservice.diary_sync.safety import (
    Decision,
    Rules,
    School,
    may_create_room,
    may_invite,
    may_join,
)
from appservice.diary_sync.snapshot import from_snapshot
from appservice.school_sync import PUPPET_PREFIX, SNAPSHOT
from appservice.store import Store
from parta.config import SafetyConfig, SafetyOverride
from parta.ids import ServerName, SourcedId, UserID, escape_localpart, user_id


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

    def may_invite(self, inviter: UserID, invitee: UserID, federates: bool) -> Decision:
        school = self.school()
        return (
            Decision(True)
            if school is None
            else may_invite(school, self._rules, inviter, invitee, federates)
        )

    def may_create_room(self, creator: UserID, direct: bool) -> Decision:
        school = self.school()
        if school is None or (direct and school.is_student(creator)):
            return Decision(True)  # a direct chat: its invites are what is checked
        return may_create_room(school, self._rules, creator)

    def holds_a_student(self, users: list[UserID]) -> bool:
        school = self.school()
        return school is not None and any(school.is_student(user) for user in users)

    def may_join(self, user: UserID, federates: bool) -> Decision:
        school = self.school()
        return Decision(True) if school is None else may_join(school, user, federates)
