"""«Контакты» (B10): the people a person may write to, and the school's support (C5). Pure.

A contact is somebody who shares one of the person's school chats, within safe mode's
circle: a student reaches (and is reached by) the school's staff, classmates and their
own parents only — the same rule the homeserver's policy enforces on every invite, so
the list never offers a chat the server would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.names import RoomNames
from appservice.diary_sync.safety import School
from kernel.ids import SourcedId, UserID

ROLE_WORDS = {
    "ru": {
        Role.STUDENT: "ученик",
        Role.PARENT: "родитель",
        Role.TEACHER: "учитель",
        Role.ADMINISTRATOR: "администрация",
    },
    "en": {
        Role.STUDENT: "student",
        Role.PARENT: "parent",
        Role.TEACHER: "teacher",
        Role.ADMINISTRATOR: "administration",
    },
}


@dataclass(frozen=True)
class Contact:
    person_id: SourcedId
    name: str
    role: str
    user_id: str | None
    """``None`` until the person links a Matrix account."""


def _school(diary: Diary) -> School:
    """Safe mode's view of the diary, each person standing for their own account: the circle
    rule is :meth:`School.in_circle`, the one the homeserver's policy applies."""
    return School.of(diary, {pid: UserID(pid) for pid in diary.people})


def may_write(school: School, me: Person, other: Person) -> bool:
    """Both sides inside a student's circle (a student on either side)."""
    if me.role is Role.STUDENT and not school.in_circle(me.id, UserID(other.id)):
        return False
    return not (other.role is Role.STUDENT and not school.in_circle(other.id, UserID(me.id)))


def contacts_of(
    diary: Diary,
    me: Person,
    names: RoomNames,
    account_of: Callable[[SourcedId], str | None],
    language: str = "ru",
) -> list[Contact]:
    """Everyone who shares a school chat with ``me`` and whom safe mode lets ``me`` reach."""
    near: set[SourcedId] = set()
    for layout in layout_diary(diary, names):
        for spec in layout.rooms:
            if me.id in spec.members and not spec.is_space:
                near |= spec.members
    near.discard(me.id)
    school = _school(diary)
    words = ROLE_WORDS.get(language, ROLE_WORDS["ru"])
    found = [
        Contact(p.id, p.display_name, words[p.role], account_of(p.id))
        for pid in near
        if (p := diary.people.get(pid)) is not None and may_write(school, me, p)
    ]
    order = {Role.ADMINISTRATOR: 0, Role.TEACHER: 1, Role.PARENT: 2, Role.STUDENT: 3}
    by_role = {p.id: order[p.role] for p in diary.people.values()}
    return sorted(found, key=lambda c: (by_role[c.person_id], c.name))


def support_contact(
    diary: Diary, configured: str, account_of: Callable[[SourcedId], str | None]
) -> tuple[str | None, str]:
    """The support account: the configured one, else the school's first linked administrator."""
    if configured:
        return configured, ""
    admins = sorted(
        (p for p in diary.people.values() if p.role is Role.ADMINISTRATOR),
        key=lambda p: (p.family_name, p.given_name, p.id),
    )
    for admin in admins:
        account = account_of(admin.id)
        if account:
            return account, admin.display_name
    return None, ""
