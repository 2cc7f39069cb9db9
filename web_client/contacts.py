"""«Контакты» (B10): the people a person may write to, and the school's support (C5). Pure.

A contact is somebody who shares one of the person's school chats, within safe mode's
circle: a student reaches (and is reached by) the school's staff, classmates and their
own parents only — the same rule the homeserver's policy enforces on every invite, so
the list never offers a chat the server would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.names import RoomNames
from appservice.diary_sync.safety import School
from kernel.config import SupportConfig
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


@dataclass(frozen=True)
class Support:
    """What «Поддержка» shows: whom to write to (if anyone), and how else to reach them."""

    user_id: str | None
    name: str
    text: str = ""
    email: str = ""
    phone: str = ""


OPERATOR_TEXT = "Вы — поддержка школы. Ваши вопросы о parta — оператору региона"
NO_OPERATOR_TEXT = (
    "Вы — поддержка школы. Контакты оператора региона не указаны: спросите тех, "
    "кто устанавливал parta в школе"
)


def support_contact(
    diary: Diary,
    me: SourcedId,
    config: SupportConfig,
    account_of: Callable[[SourcedId], str | None],
) -> Support:
    """The school's support: the configured account, else its first linked administrator.
    Whoever that is — and every administrator — is sent on to the region's operator."""
    mine = account_of(me)
    school = _school_support(diary, config.user_id, account_of)
    person = diary.people.get(me)
    answers = (mine is not None and school.user_id == mine) or (
        person is not None and person.role is Role.ADMINISTRATOR
    )
    if not answers:
        return replace(school, text=config.text, email=config.email, phone=config.phone)
    operator = config.operator
    known = operator.user_id or operator.email or operator.phone
    return Support(
        operator.user_id if operator.user_id and operator.user_id != mine else None,
        operator.name,
        OPERATOR_TEXT if known else NO_OPERATOR_TEXT,
        operator.email,
        operator.phone,
    )


def _school_support(
    diary: Diary, configured: str, account_of: Callable[[SourcedId], str | None]
) -> Support:
    if configured:
        return Support(configured, "")
    admins = sorted(
        (p for p in diary.people.values() if p.role is Role.ADMINISTRATOR),
        key=lambda p: (p.family_name, p.given_name, p.id),
    )
    for admin in admins:
        account = account_of(admin.id)
        if account:
            return Support(account, admin.display_name)
    return Support(None, "")
