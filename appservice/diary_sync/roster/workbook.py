"""parta's spreadsheet (see :mod:`sheets`) to a Diary and its timetable, or every problem.

    .xlsx ─► Школа ─► Учителя ─► Классы ─► Ученики ─► Родители ─► Расписание ─► Diary
                                 (their     (their     (their      (subject classes,
                                 teacher)   class)     children)   their teachers, slots)

Each sheet refers to the ones before it by what people write: a teacher or a child by
ФИО, a class by «5А». Ids come from ``Код`` when the row has one (``parta roster
export`` writes it), else from the row itself — a student's from ФИО and birth date,
a parent's from ФИО and phone — so the same workbook read twice gives the same ids.

Duplicates are caught where a secretary makes them: the same student twice (ФИО and
birth date), the same teacher twice (ФИО); parents' rows with the same ФИО and phone
are one parent of several children, and a row whose ``Код`` is a teacher's makes that
teacher a parent too. A phone two people share is a warning: the diary
signs in by phone, and gives a shared one to neither.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath

from openpyxl.workbook.workbook import Workbook

from appservice.diary_sync import timetable as lessons  # a module: timetable imports roster
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
from appservice.diary_sync.roster import sheets as S
from appservice.diary_sync.roster.cells import (
    Cell,
    SheetRow,
    find_sheet,
    name_key,
    open_workbook,
    read_choice,
    read_date,
    read_email,
    read_name,
    read_phone,
    read_rows,
    read_text,
    sheet_problem,
)
from appservice.diary_sync.roster.errors import Problem, RosterError, Severity
from appservice.diary_sync.roster.schedule import read_timetable_sheet
from kernel.ids import SourcedId

SUFFIX = ".xlsx"
DEFAULT_SCHOOL = SourcedId("school")
_LATIN_LETTERS = "a b v g d e zh z i k l m n o p r s t u f h c ch sh ee yu ya"
_LATIN = dict(zip(S.LETTERS, _LATIN_LETTERS.split(" "), strict=True))
"""Class letters in ids (``cls-5b``): ids end up in Matrix room aliases."""


@dataclass(frozen=True)
class WorkbookRoster:
    diary: Diary
    timetable: lessons.Timetable
    warnings: tuple[Problem, ...]


def is_workbook(name: str) -> bool:
    return PurePath(name).suffix.lower() == SUFFIX


def read_workbook(name: str, data: bytes) -> WorkbookRoster:
    """The school in the workbook; raises :class:`RosterError` with every problem."""
    book, problems = open_workbook(name, data)
    if book is None:
        raise RosterError(problems)
    reading = Reading(name)
    rows = {spec.title: reading.rows(book, spec) for spec in S.SHEETS}
    if reading.problems:
        raise RosterError(reading.problems, reading.warnings)
    reading.read_school(rows[S.SCHOOL])
    reading.read_teachers(rows[S.TEACHERS])
    reading.read_classes(rows[S.CLASSES])
    reading.read_students(rows[S.STUDENTS])
    reading.read_parents(rows[S.PARENTS])
    timetable = read_timetable_sheet(rows[S.TIMETABLE], reading, reading.problems)
    if reading.problems:
        raise RosterError(reading.problems, reading.warnings)
    return WorkbookRoster(reading.diary(), timetable, tuple(reading.warnings))


def derived_id(prefix: str, *parts: str) -> SourcedId:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=5).hexdigest()
    return SourcedId(f"{prefix}-{digest}")


def class_title(text: str) -> str:
    """«5 а», «5а», «5-А» → «5А»."""
    return "".join(c for c in text if c.isalnum()).upper()


@dataclass
class _Seen:
    """Who was read where, to name the first row when a second one clashes."""

    line: int
    id: SourcedId
    explicit: bool


@dataclass
class Reading:
    """The workbook as read so far; each sheet's rows look up the sheets read before."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    school_id: SourcedId = DEFAULT_SCHOOL
    school_name: str = ""
    people: dict[SourcedId, Person] = field(default_factory=dict)
    classes: dict[SourcedId, SchoolClass] = field(default_factory=dict)
    homerooms: dict[str, SchoolClass] = field(default_factory=dict)
    """By title («5А»)."""
    teachers_by_name: dict[str, _Seen] = field(default_factory=dict)
    students_by_name: dict[str, list[tuple[str, SourcedId]]] = field(default_factory=dict)
    """ФИО key → (class title, id) of every student so named."""
    enrollments: set[Enrollment] = field(default_factory=set)
    guardianships: set[Guardianship] = field(default_factory=set)
    births: dict[SourcedId, dict[str, str]] = field(default_factory=dict)
    phones: dict[str, tuple[str, int, SourcedId]] = field(default_factory=dict)

    def rows(self, book: Workbook, spec: S.Sheet) -> list[SheetRow]:
        sheet = find_sheet(book, spec.title)
        if sheet is None:
            if spec.required:
                self.problems.append(sheet_problem(self.file, 0, "", f"нет листа «{spec.title}»"))
            return []
        return read_rows(sheet, spec, self.problems, self.warnings)

    def read_school(self, rows: list[SheetRow]) -> None:
        if not rows:
            self.school_name = PurePath(self.file).stem
            reason = f"нет листа «{S.SCHOOL}» с названием: школа названа по файлу"
            self.warnings.append(sheet_problem(self.file, 0, "", reason, Severity.WARNING))
            return
        row = rows[0]
        self.school_name = read_text(row[S.SCHOOL_NAME], self.problems, required=True)
        self.school_id = SourcedId(row[S.CODE].text) if row[S.CODE].text else DEFAULT_SCHOOL

    def read_teachers(self, rows: list[SheetRow]) -> None:
        for row in rows:
            name = read_name(row[S.NAME], self.problems)
            role = read_choice(row[S.ROLE], S.ROLES, self.problems)
            if name is None or role is None:
                continue
            key = name_key(" ".join(name))
            pid = self._id(row, "tch", key)
            if self._duplicate(self.teachers_by_name, key, row, pid):
                continue
            kind = Role.ADMINISTRATOR if role == S.ADMINISTRATION_ROLE else Role.TEACHER
            self._person(row, pid, kind, name)

    def read_classes(self, rows: list[SheetRow]) -> None:
        seen: dict[str, int] = {}
        for row in rows:
            grade = read_choice(row[S.GRADE], S.GRADES, self.problems)
            letter = read_choice(row[S.LETTER], S.LETTERS, self.problems)
            if grade is None or letter is None:
                continue
            title = f"{grade}{letter}"
            if title in seen:
                reason = f"класс {title} уже есть в строке {seen[title]}"
                self.problems.append(row[S.LETTER].problem(reason))
                continue
            seen[title] = row.line
            code = row[S.CODE].text
            cid = SourcedId(code or f"cls-{grade}{_LATIN.get(letter, letter)}")
            klass = SchoolClass(cid, title, self.school_id, ClassKind.HOMEROOM, grade)
            self.classes[cid] = self.homerooms[title] = klass
            if row[S.CLASS_TEACHER].text:
                teacher = self.teacher(row[S.CLASS_TEACHER])
                if teacher is not None:
                    self._enroll(cid, teacher, EnrollmentRole.TEACHER, primary=True)

    def read_students(self, rows: list[SheetRow]) -> None:
        seen: dict[str, _Seen] = {}
        for row in rows:
            name = read_name(row[S.NAME], self.problems)
            klass = self.homeroom(row[S.CLASS])
            birth = read_date(row[S.BIRTH], self.problems)
            if name is None or klass is None:
                continue
            key = name_key(" ".join(name))
            pid = self._id(row, "stu", key, birth.isoformat() if birth else "")
            hint = "если это разные ученики, укажите даты рождения" if birth is None else ""
            if self._duplicate(seen, f"{key}|{birth or ''}", row, pid, hint):
                continue
            if self._person(row, pid, Role.STUDENT, name) is None:
                continue
            self.students_by_name.setdefault(key, []).append((klass.title, pid))
            self._enroll(klass.id, pid, EnrollmentRole.STUDENT)
            if birth is not None:
                self.births[pid] = {S.BIRTH: birth.isoformat()}

    def read_parents(self, rows: list[SheetRow]) -> None:
        for row in rows:
            name = read_name(row[S.NAME], self.problems)
            child = self._child(row)
            before = len(self.problems)
            phone = read_phone(row[S.PHONE], self.problems)
            if name is None or child is None or len(self.problems) > before:
                continue
            pid = self._id(row, "par", name_key(" ".join(name)), phone)
            known = self.people.get(pid)  # a parent of one more child, or a teacher by Код
            adult = known is not None and known.role is not Role.STUDENT
            if not adult and self._person(row, pid, Role.PARENT, name) is None:
                continue
            self.guardianships.add(Guardianship(parent_id=pid, student_id=child))

    def teacher(self, cell: Cell) -> SourcedId | None:
        seen = self.teachers_by_name.get(name_key(cell.text))
        if seen is None:
            reason = f"нет учителя «{cell.text}» на листе «{S.TEACHERS}»"
            self.problems.append(cell.problem(reason))
            return None
        return seen.id

    def homeroom(self, cell: Cell) -> SchoolClass | None:
        if not cell.text:
            self.problems.append(cell.problem("пустая ячейка: нужен класс, например 5А"))
            return None
        klass = self.homerooms.get(class_title(cell.text))
        if klass is None:
            self.problems.append(cell.problem(f"нет класса «{cell.text}» на листе «{S.CLASSES}»"))
        return klass

    def diary(self) -> Diary:
        extensions = {S.STUDENTS: self.births} if self.births else {}
        return Diary(
            schools={self.school_id: School(self.school_id, self.school_name)},
            classes=self.classes,
            people=self.people,
            enrollments=frozenset(self.enrollments),
            guardianships=frozenset(self.guardianships),
            extensions=extensions,
        )

    def enroll(
        self, class_id: SourcedId, person: SourcedId, role: EnrollmentRole, primary: bool
    ) -> None:
        self._enroll(class_id, person, role, primary)

    def students_of(self, class_id: SourcedId) -> list[SourcedId]:
        return sorted(
            e.person_id
            for e in self.enrollments
            if e.class_id == class_id and e.role is EnrollmentRole.STUDENT
        )

    def _enroll(
        self, class_id: SourcedId, person: SourcedId, role: EnrollmentRole, primary: bool = False
    ) -> None:
        eid = SourcedId(f"{class_id}/{person}")
        self.enrollments.add(Enrollment(class_id, person, role, primary, eid))

    def _child(self, row: SheetRow) -> SourcedId | None:
        code = row[S.CHILD_CODE]
        if code.text:
            child = self.people.get(SourcedId(code.text))
            if child is not None and child.role is Role.STUDENT:
                return child.id
            self.problems.append(code.problem(f"нет ученика с кодом {code.text}"))
            return None
        cell = row[S.CHILD]
        found = self.students_by_name.get(name_key(cell.text), [])
        wanted = class_title(row[S.CHILD_CLASS].text)
        if wanted:
            found = [(title, pid) for title, pid in found if title == wanted]
        if len(found) == 1:
            return found[0][1]
        if not cell.text:
            reason = "пустая ячейка: нужно ФИО ребёнка"
        elif not found:
            reason = f"нет ученика «{cell.text}» на листе «{S.STUDENTS}»"
        else:
            reason = f"учеников «{cell.text}» несколько: укажите «{S.CHILD_CLASS}»"
        self.problems.append(cell.problem(reason))
        return None

    def _id(self, row: SheetRow, prefix: str, *parts: str) -> SourcedId:
        code = row[S.CODE].text
        return SourcedId(code) if code else derived_id(prefix, *parts)

    def _duplicate(
        self, seen: dict[str, _Seen], key: str, row: SheetRow, pid: SourcedId, hint: str = ""
    ) -> bool:
        explicit = bool(row[S.CODE].text)
        first = seen.get(key)
        if first is None:
            seen[key] = _Seen(row.line, pid, explicit)
            return False
        if explicit and first.explicit and first.id != pid:
            return False  # namesakes the school told apart by their codes
        reason = (
            f"«{row[S.NAME].text}» уже есть в строке {first.line}: один человек дважды?"
            f" ({hint or f'разным людям — разные «{S.CODE}»'})"
        )
        self.problems.append(row[S.NAME].problem(reason))
        return True

    def _person(
        self, row: SheetRow, pid: SourcedId, role: Role, name: tuple[str, str, str]
    ) -> Person | None:
        if pid in self.people:
            reason = f"«{S.CODE}» {pid} уже есть у «{self.people[pid].display_name}»"
            self.problems.append(row[S.CODE].problem(reason))
            return None
        phone = read_phone(row[S.PHONE], self.problems, self.warnings)
        email = read_email(row[S.EMAIL], self.problems)
        family, given, middle = name
        school = frozenset({self.school_id})
        login = row[S.LOGIN].text
        person = Person(pid, role, given, family, middle, login, phone, email, school)
        self.people[pid] = person
        self._shared_phone(row[S.PHONE], phone, pid)
        return person

    def _shared_phone(self, cell: Cell, phone: str, pid: SourcedId) -> None:
        if not phone:
            return
        first = self.phones.setdefault(phone, (cell.sheet, cell.line, pid))
        if first[2] != pid:
            other = self.people[first[2]].display_name
            reason = (
                f"телефон {phone} уже указан у «{other}» ({first[0]}, строка {first[1]}):"
                " войти в дневник по нему не сможет никто из них"
            )
            self.warnings.append(cell.problem(reason, Severity.WARNING))


def birth_date(diary: Diary, person: SourcedId) -> date | None:
    """What the workbook said (kept beside the diary) — for writing it back."""
    text = diary.extensions.get(S.STUDENTS, {}).get(person, {}).get(S.BIRTH)
    return date.fromisoformat(text) if text else None
