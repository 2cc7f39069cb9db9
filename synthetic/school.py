"""A synthetic Russian school, deterministic from a seed: demo data and benchmarks.

    generate_school(1000) ─► homerooms 1А…11В (~25 each) ─► families (siblings share
    parents) ─► subject classes per homeroom ─► teachers by subject pool ─► Diary

Grades 1–4 are taught mostly by their class teacher (учитель начальных классов);
from grade 5 each subject has its own teachers, each teaching several homerooms
of adjacent grades, and one of a homeroom's teachers is its class teacher.
Staff positions go to the ``metadata.position`` extension column of users.csv.

For 1,000 students: 40 homerooms, ~450 subject classes, ~55 teachers, 4
administrators and ~1,550 parents, about 2,650 people.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    School,
    SchoolClass,
)
from appservice.diary_sync.timetable import TIMETABLE, Timetable
from kernel.ids import SourcedId
from synthetic.oneroster import write_oneroster12
from synthetic.russian_names import (
    BOYS,
    FATHER_NAMES,
    GIRLS,
    SURNAMES,
    WOMEN,
    female_surname,
    patronymic,
    transliterate,
)
from synthetic.sds import write_sds21
from synthetic.timetable import weekly_timetable, write_timetable

POSITION = "metadata.position"


_CLASS_SIZE = 25
_LETTERS = "АБВГДЕЖЗИКЛМНОПРСТУФ"

# (code, subject, first grade, last grade)
SUBJECTS: tuple[tuple[str, str, int, int], ...] = (
    ("rus", "Русский язык", 1, 11),
    ("read", "Литературное чтение", 1, 4),
    ("lit", "Литература", 5, 11),
    ("math", "Математика", 1, 11),
    ("world", "Окружающий мир", 1, 4),
    ("eng", "Английский язык", 2, 11),
    ("hist", "История", 5, 11),
    ("soc", "Обществознание", 6, 11),
    ("geo", "География", 5, 11),
    ("bio", "Биология", 5, 11),
    ("phys", "Физика", 7, 11),
    ("chem", "Химия", 8, 11),
    ("inf", "Информатика", 7, 11),
    ("music", "Музыка", 1, 8),
    ("art", "ИЗО", 1, 7),
    ("tech", "Технология", 1, 8),
    ("pe", "Физкультура", 1, 11),
    ("obzr", "ОБЗР", 8, 11),
)
_PRIMARY_CORE = frozenset({"rus", "read", "math", "world", "art", "tech"})
"""Taught in grades 1–4 by the class teacher (учитель начальных классов)."""
# (position, subject codes, homerooms one teacher takes)
_POOLS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("Учитель русского языка и литературы", ("rus", "lit"), 5),
    ("Учитель математики", ("math",), 5),
    ("Учитель английского языка", ("eng",), 8),
    ("Учитель истории и обществознания", ("hist", "soc"), 7),
    ("Учитель физики", ("phys",), 10),
    ("Учитель химии", ("chem",), 12),
    ("Учитель биологии", ("bio",), 12),
    ("Учитель географии", ("geo",), 12),
    ("Учитель информатики", ("inf",), 12),
    ("Учитель физической культуры", ("pe",), 10),
    ("Учитель музыки", ("music",), 20),
    ("Учитель ИЗО", ("art",), 20),
    ("Учитель технологии", ("tech",), 16),
    ("Преподаватель-организатор ОБЗР", ("obzr",), 20),
)


@dataclass(frozen=True)
class GeneratedSchool:
    diary: Diary
    timetable: Timetable = field(default_factory=Timetable)

    @property
    def school(self) -> School:
        return next(iter(self.diary.schools.values()))


def generate_school(
    students: int,
    seed: int = 1,
    school_name: str = "МАОУ лицей № 14",
    school_id: str = "org-1",
) -> GeneratedSchool:
    """A whole school for ``students`` pupils; the same arguments give the same school."""
    if students < 1:
        raise ValueError("a school needs at least one student")
    rng = random.Random(seed)  # noqa: S311 - synthetic names, not secrets
    school = School(SourcedId(school_id), school_name)
    builder = _Builder(rng, school.id)
    homerooms = builder.homerooms(students)
    builder.students_and_parents(homerooms, students)
    builder.staff(homerooms)
    diary = builder.diary(school)
    return GeneratedSchool(diary, weekly_timetable(diary))


def write_oneroster(school: GeneratedSchool, out: Path) -> None:
    """OneRoster 1.2 CSV plus ``timetable.csv``; guardians as ``agentSourcedIds``."""
    write_oneroster12(school.diary, out)
    write_timetable(school.timetable, out / TIMETABLE)


def write_sds(school: GeneratedSchool, out: Path) -> None:
    """SDS v2.1 CSV plus ``timetable.csv``; guardians in ``relationships.csv``."""
    write_sds21(school.diary, out)
    write_timetable(school.timetable, out / TIMETABLE)


@dataclass(frozen=True)
class _Homeroom:
    klass: SchoolClass
    subjects: tuple[tuple[str, str], ...]

    def scheduled_id(self, code: str) -> SourcedId:
        return SourcedId(f"{self.klass.id}-{code}")


@dataclass
class _Family:
    surname: str
    father_name: str
    parents: list[SourcedId]
    children: int = 0


@dataclass
class _Builder:
    """Accumulates one school; lives for one ``generate_school`` call."""

    rng: random.Random
    school_id: SourcedId
    people: dict[SourcedId, Person] = field(default_factory=dict)
    classes: dict[SourcedId, SchoolClass] = field(default_factory=dict)
    enrollments: set[Enrollment] = field(default_factory=set)
    guardianships: set[Guardianship] = field(default_factory=set)
    positions: dict[SourcedId, dict[str, str]] = field(default_factory=dict)
    usernames: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    parent_count: int = 0

    def diary(self, school: School) -> Diary:
        return Diary(
            schools={school.id: school},
            classes=self.classes,
            people=self.people,
            enrollments=frozenset(self.enrollments),
            guardianships=frozenset(self.guardianships),
            extensions={"users.csv": self.positions},
        )

    def homerooms(self, students: int) -> list[_Homeroom]:
        """~25 per class; lower grades get the extra classes.

        A school too small to fill grades 1–11 (a demo) gets single classes in
        grades spread over the range, so it still shows primary and senior classes.
        """
        count = max(1, round(students / _CLASS_SIZE))
        if count < 11:
            per_grade = [0] * 11
            for index in range(count):
                per_grade[int((index + 0.5) * 11 / count)] = 1
        else:
            per_grade = [count // 11 + (grade < count % 11) for grade in range(11)]
        return [
            self._homeroom(grade, index)
            for grade, letters in enumerate(per_grade, start=1)
            for index in range(letters)
        ]

    def _homeroom(self, grade: int, index: int) -> _Homeroom:
        letter = _LETTERS[index] if index < len(_LETTERS) else str(index + 1)
        code = f"{grade}{transliterate(letter)}"
        klass = SchoolClass(
            SourcedId(f"cls-{code}"),
            f"{grade}{letter}",
            self.school_id,
            ClassKind.HOMEROOM,
            str(grade),
        )
        subjects = tuple((c, s) for c, s, low, high in SUBJECTS if low <= grade <= high)
        room = _Homeroom(klass, subjects)
        self.classes[klass.id] = klass
        for subject_code, subject in subjects:
            title = f"{klass.title} {subject}"
            scheduled = SchoolClass(
                room.scheduled_id(subject_code),
                title,
                self.school_id,
                ClassKind.SCHEDULED,
                str(grade),
                subject,
            )
            self.classes[scheduled.id] = scheduled
        return room

    def students_and_parents(self, rooms: list[_Homeroom], students: int) -> None:
        families: list[_Family] = []
        width = max(4, len(str(students)))
        sizes = [students // len(rooms) + (i < students % len(rooms)) for i in range(len(rooms))]
        number = 0
        for room, size in zip(rooms, sizes, strict=True):
            for _ in range(size):
                number += 1
                family = self._family(families, width)
                student = self._student(SourcedId(f"stu-{number:0{width}d}"), family, room)
                for parent in family.parents:
                    self.guardianships.add(Guardianship(parent, student.id))

    def _family(self, families: list[_Family], width: int) -> _Family:
        """About one pupil in eight has a brother or sister here (same parents)."""
        open_ = [f for f in families if f.children < 3]
        if open_ and self.rng.random() < 0.12:
            family = self.rng.choice(open_)
        else:
            family = _Family(self.rng.choice(SURNAMES), self.rng.choice(FATHER_NAMES), [])
            roll = self.rng.random()
            for female in (False, True):
                if (female and roll < 0.97) or (not female and (roll < 0.82 or roll >= 0.97)):
                    family.parents.append(self._parent(width, family, female))
            families.append(family)
        family.children += 1
        return family

    def _parent(self, width: int, family: _Family, female: bool) -> SourcedId:
        self.parent_count += 1
        pid = SourcedId(f"par-{self.parent_count:0{width}d}")
        given = family.father_name if not female else self.rng.choice(WOMEN)
        self._add(pid, Role.PARENT, given, self._surname(family.surname, female), female, True)
        return pid

    def _student(self, sid: SourcedId, family: _Family, room: _Homeroom) -> Person:
        female = self.rng.random() < 0.5
        given = self.rng.choice(GIRLS if female else BOYS)
        middle = patronymic(family.father_name, female)
        grade = int(room.klass.grade)
        has_phone = grade >= 5 and self.rng.random() < 0.7
        person = self._add(
            sid,
            Role.STUDENT,
            given,
            self._surname(family.surname, female),
            female,
            has_phone,
            middle,
        )
        self.enrollments.add(
            Enrollment(room.klass.id, sid, EnrollmentRole.STUDENT, id=_eid(room.klass.id, sid))
        )
        for code, _ in room.subjects:
            cid = room.scheduled_id(code)
            self.enrollments.add(Enrollment(cid, sid, EnrollmentRole.STUDENT, id=_eid(cid, sid)))
        return person

    def staff(self, rooms: list[_Homeroom]) -> None:
        admins = ["Директор", "Заместитель директора по учебной работе"]
        if sum(p.role is Role.STUDENT for p in self.people.values()) >= 500:
            admins.append("Заместитель директора по учебной работе")
        admins.append("Заместитель директора по воспитательной работе")
        for number, position in enumerate(admins, start=1):
            self._adult(SourcedId(f"adm-{number}"), Role.ADMINISTRATOR, position)
        teachers = _TeacherIds()
        class_teachers: dict[SourcedId, SourcedId] = {}
        for room in rooms:
            if int(room.klass.grade) <= 4:
                tid = self._adult(teachers.next(), Role.TEACHER, "Учитель начальных классов")
                class_teachers[room.klass.id] = tid
                for code, _ in room.subjects:
                    if code in _PRIMARY_CORE:
                        self._teach(tid, room.scheduled_id(code))
        taught = self._pools(rooms, teachers)
        self._class_teachers(rooms, taught, class_teachers)
        for class_id, tid in class_teachers.items():
            self.enrollments.add(
                Enrollment(class_id, tid, EnrollmentRole.TEACHER, True, _eid(class_id, tid))
            )

    def _pools(
        self, rooms: list[_Homeroom], teachers: _TeacherIds
    ) -> dict[SourcedId, list[SourcedId]]:
        """Each pool's homerooms, in grade order, split among teachers of that subject."""
        taught: dict[SourcedId, list[SourcedId]] = {}
        for position, codes, load in _POOLS:
            needing = [r for r in rooms if any(self._pool_teaches(r, c) for c in codes)]
            for start in range(0, len(needing), load):
                tid = self._adult(teachers.next(), Role.TEACHER, position)
                for room in needing[start : start + load]:
                    taught.setdefault(room.klass.id, []).append(tid)
                    for code in codes:
                        if self._pool_teaches(room, code):
                            self._teach(tid, room.scheduled_id(code))
        return taught

    @staticmethod
    def _pool_teaches(room: _Homeroom, code: str) -> bool:
        primary = int(room.klass.grade) <= 4 and code in _PRIMARY_CORE
        return not primary and any(code == c for c, _ in room.subjects)

    def _class_teachers(
        self,
        rooms: list[_Homeroom],
        taught: dict[SourcedId, list[SourcedId]],
        chosen: dict[SourcedId, SourcedId],
    ) -> None:
        """From grade 5, one of the homeroom's own teachers, none leading two classes."""
        busy = set(chosen.values())
        for room in rooms:
            if room.klass.id in chosen:
                continue
            candidates = taught.get(room.klass.id, [])
            free = [t for t in candidates if t not in busy] or candidates
            chosen[room.klass.id] = free[0]
            busy.add(free[0])

    def _teach(self, tid: SourcedId, class_id: SourcedId) -> None:
        self.enrollments.add(
            Enrollment(class_id, tid, EnrollmentRole.TEACHER, True, _eid(class_id, tid))
        )

    def _adult(self, pid: SourcedId, role: Role, position: str) -> SourcedId:
        female = self.rng.random() < (0.8 if role is Role.TEACHER else 0.6)
        given = self.rng.choice(WOMEN if female else FATHER_NAMES)
        surname = self._surname(self.rng.choice(SURNAMES), female)
        self._add(pid, role, given, surname, female, True, email=True)
        self.positions[pid] = {POSITION: position}
        return pid

    def _surname(self, surname: str, female: bool) -> str:
        return female_surname(surname) if female else surname

    def _add(
        self,
        pid: SourcedId,
        role: Role,
        given: str,
        family: str,
        female: bool,
        has_phone: bool,
        middle: str = "",
        email: bool = False,
    ) -> Person:
        middle = middle or patronymic(self.rng.choice(FATHER_NAMES), female)
        username = self._username(family, given)
        person = Person(
            id=pid,
            role=role,
            given_name=given,
            family_name=family,
            middle_name=middle,
            username=username,
            phone=self._phone() if has_phone else "",
            email=f"{username}@school.example" if email else "",
            school_ids=frozenset({self.school_id}),
        )
        self.people[pid] = person
        return person

    def _username(self, family: str, given: str) -> str:
        base = f"{transliterate(family)}.{transliterate(given)}"
        candidates = (base if n == 1 else f"{base}{n}" for n in itertools.count(1))
        username = next(c for c in candidates if c not in self.usernames)
        self.usernames.add(username)
        return username

    def _phone(self) -> str:
        while True:
            phone = f"+79{self.rng.randrange(10**9):09d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone


class _TeacherIds:
    def __init__(self) -> None:
        self.count = 0

    def next(self) -> SourcedId:
        self.count += 1
        return SourcedId(f"tch-{self.count:03d}")


def _eid(class_id: SourcedId, person_id: SourcedId) -> SourcedId:
    return SourcedId(f"enr-{class_id.removeprefix('cls-')}-{person_id}")
