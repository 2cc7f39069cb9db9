"""«Управление → Собрания» (D6): which meetings a member of staff may call, and the form. Pure.

A meeting is held in a parents' chat — the school's, a grade's, a class's — where the
organiser has the staff power the school's bot checks (the layout gives it to the
administration and to class teachers), or, one to one, in a meeting room of its own with
one parent: the administration with any parent, a class teacher with the class's parents.

    staff ──form──▶ diary: check against these targets ──▶ bots: post the invitation
                                                             (and remind before it starts)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from appservice.diary_sync.layout import RoomKind, layout_diary
from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.names import RoomNames
from kernel.ids import ServerName, SourcedId, room_alias

STAFF_POWER = 50
"""The power the bots require of an organiser (teachers 60, class teachers 80, admin 95)."""
PARENTS_ROOMS = (RoomKind.SCHOOL_PARENTS, RoomKind.GRADE_PARENTS, RoomKind.CLASS_PARENTS)
MIN_MINUTES, MAX_MINUTES, DEFAULT_MINUTES = 10, 240, 45


@dataclass(frozen=True)
class GroupTarget:
    alias: str
    name: str


@dataclass(frozen=True)
class ParentTarget:
    person_id: SourcedId
    name: str
    children: str


@dataclass(frozen=True)
class Targets:
    groups: tuple[GroupTarget, ...]
    parents: tuple[ParentTarget, ...]


def targets(diary: Diary, me: Person, names: RoomNames, server: ServerName) -> Targets:
    """Where ``me`` may call a meeting: parents' chats where they moderate, and their parents."""
    if not me.role.is_staff:
        return Targets((), ())
    order = {kind: n for n, kind in enumerate(PARENTS_ROOMS)}
    groups: list[tuple[int, str, GroupTarget]] = []
    parents: set[SourcedId] = set()
    for layout in layout_diary(diary, names):
        for spec in layout.rooms:
            if spec.kind not in PARENTS_ROOMS or spec.power_of(me.id) < STAFF_POWER:
                continue
            alias = room_alias(spec.key, server)
            groups.append((order[spec.kind], spec.name, GroupTarget(alias, spec.name)))
            if spec.kind is RoomKind.CLASS_PARENTS or me.role is Role.ADMINISTRATOR:
                parents |= {
                    p
                    for p in spec.members
                    if (who := diary.people.get(p)) and who.role is Role.PARENT
                }
    found = []
    for pid in parents:
        parent = diary.people[pid]
        kids = sorted(
            diary.people[c].given_name for c in _children(diary, pid) if c in diary.people
        )
        found.append(ParentTarget(pid, parent.display_name, ", ".join(kids)))
    return Targets(
        tuple(g for _o, _n, g in sorted(groups, key=lambda t: (t[0], t[1]))),
        tuple(sorted(found, key=lambda p: (p.name, p.person_id))),
    )


def _children(diary: Diary, parent: SourcedId) -> list[SourcedId]:
    return [g.student_id for g in diary.guardianships if g.parent_id == parent]


class MeetingFormError(ValueError):
    """A field of the form, and what is wrong with it (shown next to the form)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class MeetingRequest:
    title: str
    starts_at: datetime
    minutes: int
    room_alias: str | None
    parent: SourcedId | None


def read_form(form: dict[str, str], allowed: Targets, now: datetime) -> MeetingRequest:
    """The form's fields, checked: a target ``me`` may use, a time ahead, a sane length."""
    title = form.get("title", "").strip()
    if not title or len(title) > 200:
        raise MeetingFormError("title", "Укажите тему собрания (до 200 символов)")
    if form.get("now"):  # «Начать сейчас»: the call is open at once
        starts = now.replace(second=0, microsecond=0)
    else:
        try:
            day = date.fromisoformat(form.get("date", ""))
            at = time.fromisoformat(form.get("time", ""))
        except ValueError:
            raise MeetingFormError("date", "Укажите дату и время собрания") from None
        starts = datetime.combine(day, at.replace(second=0, microsecond=0))
    if starts <= now - timedelta(minutes=1):
        raise MeetingFormError("date", "Собрание можно назначить только на будущее время")
    if starts > now + timedelta(days=366):
        raise MeetingFormError("date", "Собрание можно назначить не дальше чем на год вперёд")
    try:
        minutes = int(form.get("minutes", "") or DEFAULT_MINUTES)
    except ValueError:
        raise MeetingFormError("minutes", "Длительность — число минут") from None
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise MeetingFormError("minutes", f"Длительность — от {MIN_MINUTES} до {MAX_MINUTES} минут")
    where = form.get("where", "")
    if where.startswith("parent:"):
        parent = SourcedId(where.removeprefix("parent:"))
        if parent not in {p.person_id for p in allowed.parents}:
            raise MeetingFormError("where", "С этим родителем вы не можете назначить встречу")
        return MeetingRequest(title, starts, minutes, None, parent)
    if where not in {g.alias for g in allowed.groups}:
        raise MeetingFormError("where", "Выберите, для кого собрание")
    return MeetingRequest(title, starts, minutes, where, None)
