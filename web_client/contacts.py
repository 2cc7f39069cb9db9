"""«Контакты» (B10): the people a person may write to, and the school's support (C5). Pure.

A contact is somebody who shares one of the person's school chats, within safe mode's
circle: a student reaches (and is reached by) the school's staff, classmates and their
own parents only — the same rule the homeserver's policy enforces on every invite, so
the list never offers a chat the server would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Person, Role
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


class Group(StrEnum):
    """How «Контакты» groups people for the person looking, in this order."""

    CHILDREN = "children"
    PARENTS = "parents"
    CLASS_TEACHERS = "class_teachers"
    TEACHERS = "teachers"
    ADMINISTRATION = "administration"
    CLASSMATES = "classmates"
    STUDENTS = "students"
    CLASSMATES_PARENTS = "classmates_parents"
    STUDENTS_PARENTS = "students_parents"


GROUP_LABELS = {
    "ru": {
        Group.CHILDREN: "Мои дети",
        Group.PARENTS: "Мои родители",
        Group.CLASS_TEACHERS: "Классные руководители",
        Group.TEACHERS: "Учителя",
        Group.ADMINISTRATION: "Администрация",
        Group.CLASSMATES: "Одноклассники",
        Group.STUDENTS: "Ученики",
        Group.CLASSMATES_PARENTS: "Родители одноклассников",
        Group.STUDENTS_PARENTS: "Родители учеников",
    },
    "en": {
        Group.CHILDREN: "My children",
        Group.PARENTS: "My parents",
        Group.CLASS_TEACHERS: "Class teachers",
        Group.TEACHERS: "Teachers",
        Group.ADMINISTRATION: "Administration",
        Group.CLASSMATES: "Classmates",
        Group.STUDENTS: "Students",
        Group.CLASSMATES_PARENTS: "Classmates' parents",
        Group.STUDENTS_PARENTS: "Students' parents",
    },
}
_GROUP_ORDER = {g: i for i, g in enumerate(Group)}


@dataclass(frozen=True)
class Contact:
    person_id: SourcedId
    name: str
    role: str
    user_id: str | None
    """``None`` until the person links a Matrix account."""
    group: Group = Group.TEACHERS
    detail: str = ""
    """What places them for the person looking: a class (5А), subjects, whose parent."""


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
    places = _Places(diary, me)
    found = [
        Contact(p.id, p.display_name, words[p.role], account_of(p.id), *places.of(p))
        for pid in near
        if (p := diary.people.get(pid)) is not None and may_write(school, me, p)
    ]
    # by group; within one, people who can be written to first, then by name
    return sorted(found, key=lambda c: (_GROUP_ORDER[c.group], c.user_id is None, c.name))


class _Places:
    """Where each person stands for ``me``: the group and the detail «Контакты» shows."""

    def __init__(self, diary: Diary, me: Person) -> None:
        self._diary, self._me = diary, me
        self._children = {g.student_id for g in diary.guardianships if g.parent_id == me.id}
        self._parents = diary.parents_of(me.id)
        homeroom = {
            e.person_id: c.title
            for e in diary.enrollments
            if e.role is EnrollmentRole.STUDENT
            and (c := diary.classes.get(e.class_id)) is not None
            and c.kind is ClassKind.HOMEROOM
        }
        self._homeroom = homeroom
        mine = {me.id} | self._children  # whose teachers matter to me
        self._my_classes = {
            e.class_id
            for e in diary.enrollments
            if e.person_id in mine and e.role is EnrollmentRole.STUDENT
        }
        self._class_teachers = {
            t: c.title
            for c in diary.classes.values()
            if c.kind is ClassKind.HOMEROOM
            and (me.role.is_staff or c.id in self._my_classes)
            and (t := diary.class_teacher(c.id)) is not None
        }

    def of(self, other: Person) -> tuple[Group, str]:
        diary, me = self._diary, self._me
        if other.id in self._children:
            return Group.CHILDREN, self._homeroom.get(other.id, "")
        if other.id in self._parents:
            return Group.PARENTS, ""
        if other.role is Role.STUDENT:
            group = Group.STUDENTS if me.role.is_staff else Group.CLASSMATES
            return group, self._homeroom.get(other.id, "")
        if other.role is Role.PARENT:
            kids = sorted(
                f"{diary.people[s].given_name} ({self._homeroom.get(s, '')})".replace(" ()", "")
                for s in diary.people
                if other.id in diary.parents_of(s)
                and (me.role.is_staff or self._homeroom.get(s) in self._my_homerooms())
            )
            group = Group.STUDENTS_PARENTS if me.role.is_staff else Group.CLASSMATES_PARENTS
            return group, ", ".join(kids)
        if other.id in self._class_teachers and not me.role.is_staff:
            return Group.CLASS_TEACHERS, self._class_teachers[other.id]
        if other.role is Role.ADMINISTRATOR:
            return Group.ADMINISTRATION, ""
        return Group.TEACHERS, self._subjects(other.id)

    def _my_homerooms(self) -> set[str]:
        return {t for p in {self._me.id} | self._children if (t := self._homeroom.get(p))}

    def _subjects(self, teacher: SourcedId) -> str:
        """What the teacher teaches me or my children (staff see all they teach)."""
        taught = {
            c.subject or c.title
            for e in self._diary.enrollments
            if e.person_id == teacher
            and e.role is EnrollmentRole.TEACHER
            and (c := self._diary.classes.get(e.class_id)) is not None
            and c.kind is not ClassKind.HOMEROOM
            and (self._me.role.is_staff or c.id in self._my_classes)
        }
        return ", ".join(sorted(taught))


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
