"""Writing parta's spreadsheet: the empty template, and a school's roster for editing.

    template()            every sheet of :mod:`sheets`, one example row each, lists to
                          choose from (roles, grades, letters, weekdays, да/нет)
    export(diary, times)  the same sheets filled from a diary: ``Код`` keeps every id,
                          so the edited workbook syncs onto the same people and rooms

The reader lives in the pure core (:mod:`appservice.diary_sync.roster.workbook`); both
follow :mod:`appservice.diary_sync.roster.sheets`, so what is written is what is read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, time

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from appservice.diary_sync.model import ClassKind, Diary, Person, Role
from appservice.diary_sync.roster import sheets as S
from appservice.diary_sync.roster.workbook import birth_date
from appservice.diary_sync.timetable import Timetable
from kernel.ids import SourcedId

Cell = str | date | time | None
_ROWS = 5000
"""How far down the lists to choose from reach."""
_CODE_NOTE = "Заполняется parta при выгрузке; не меняйте. Пусто — новый человек (класс)."


def template() -> bytes:
    """An empty workbook with one example row per sheet (they check as a tiny school)."""
    book = _book()
    for spec in S.SHEETS:
        _fill(book[spec.title], spec, [[column.example or None for column in spec.columns]])
    return _saved(book)


def export(diary: Diary, timetable: Timetable | None) -> bytes:
    """The diary (one school) as the workbook, ready to edit and sync again."""
    book = _book()
    school: list[list[Cell]] = [[s.name, s.id] for s in diary.schools.values()]
    rows: dict[str, list[list[Cell]]] = {
        S.SCHOOL: school,
        S.CLASSES: _classes(diary),
        S.TEACHERS: _teachers(diary),
        S.STUDENTS: _students(diary),
        S.PARENTS: _parents(diary),
        S.TIMETABLE: _timetable(diary, timetable) if timetable is not None else [],
    }
    for spec in S.SHEETS:
        _fill(book[spec.title], spec, rows[spec.title])
    return _saved(book)


def _book() -> Workbook:
    book = Workbook()
    first = book.active
    for number, spec in enumerate(S.SHEETS):
        sheet = book.create_sheet(spec.title) if number else first
        if isinstance(sheet, Worksheet):
            sheet.title = spec.title
            _header(sheet, spec)
    return book


def _header(sheet: Worksheet, spec: S.Sheet) -> None:
    for number, column in enumerate(spec.columns, start=1):
        cell = sheet.cell(row=1, column=number, value=column.title)
        cell.font = Font(bold=True)
        letter = get_column_letter(number)
        sheet.column_dimensions[letter].width = column.width
        if column.title == S.CODE:
            cell.comment = Comment(_CODE_NOTE, "parta")
        if column.choices:
            listed = ",".join(column.choices)
            check = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=True)
            check.error = f"Выберите из списка: {', '.join(column.choices)}"
            check.errorTitle = column.title
            sheet.add_data_validation(check)
            check.add(f"{letter}2:{letter}{_ROWS}")
    sheet.freeze_panes = "A2"


def _fill(sheet: Worksheet, spec: S.Sheet, rows: Iterable[Sequence[Cell]]) -> None:
    for line, values in enumerate(rows, start=2):
        for number, value in enumerate(values, start=1):
            cell = sheet.cell(row=line, column=number, value=value)
            if isinstance(value, date):
                cell.number_format = "DD.MM.YYYY"
            elif isinstance(value, time):
                cell.number_format = "HH:MM"
            elif spec.columns[number - 1].title == S.PHONE:
                cell.number_format = "@"


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fio(person: Person) -> str:
    return " ".join(p for p in (person.family_name, person.given_name, person.middle_name) if p)


def _homerooms(diary: Diary) -> dict[str, str]:
    """Each student's homeroom title."""
    found: dict[str, str] = {}
    for e in sorted(diary.enrollments, key=lambda e: (e.class_id, e.person_id)):
        klass = diary.classes.get(e.class_id)
        if klass is not None and klass.kind is ClassKind.HOMEROOM:
            found.setdefault(e.person_id, klass.title)
    return found


def _classes(diary: Diary) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    homerooms = [c for c in diary.classes.values() if c.kind is ClassKind.HOMEROOM]
    for klass in sorted(homerooms, key=lambda c: (len(c.grade), c.grade, c.title)):
        teacher = diary.people.get(diary.class_teacher(klass.id) or SourcedId(""))
        head = _fio(teacher) if teacher is not None else None
        letter = klass.title.removeprefix(klass.grade).strip() if klass.grade else klass.title
        rows.append([klass.grade, letter, head, klass.id])
    return rows


def _teachers(diary: Diary) -> list[list[Cell]]:
    staff = [p for p in diary.people.values() if p.role.is_staff]
    return [
        [
            _fio(p),
            S.ADMINISTRATION_ROLE if p.role is Role.ADMINISTRATOR else S.TEACHER_ROLE,
            p.phone,
            p.email,
            p.username,
            p.id,
        ]
        for p in sorted(staff, key=lambda p: (_fio(p), p.id))
    ]


def _students(diary: Diary) -> list[list[Cell]]:
    homeroom = _homerooms(diary)
    students = [p for p in diary.people.values() if p.role is Role.STUDENT]
    return [
        [
            _fio(p),
            homeroom.get(p.id),
            birth_date(diary, p.id),
            p.phone,
            p.email,
            p.username,
            p.id,
        ]
        for p in sorted(students, key=lambda p: (homeroom.get(p.id, ""), _fio(p), p.id))
    ]


def _parents(diary: Diary) -> list[list[Cell]]:
    homeroom = _homerooms(diary)
    rows: list[list[Cell]] = []
    for link in sorted(diary.guardianships, key=lambda g: (g.parent_id, g.student_id)):
        parent, child = diary.people.get(link.parent_id), diary.people.get(link.student_id)
        if parent is None or child is None or parent.role is Role.STUDENT:
            continue  # a teacher who is a parent too is found by her Код
        rows.append(
            [
                _fio(parent),
                parent.phone,
                parent.email,
                _fio(child),
                homeroom.get(child.id),
                parent.username,
                parent.id,
                child.id,
            ]
        )
    return rows


def _timetable(diary: Diary, timetable: Timetable) -> list[list[Cell]]:
    """Weekly slots (one-off lessons set in the journal stay in the diary)."""
    titles = {c.title for c in diary.classes.values() if c.kind is ClassKind.HOMEROOM}
    rows: list[list[Cell]] = []
    for slot in sorted(timetable.slots, key=lambda s: (s.class_id, s.weekday or 0, s.start)):
        klass = diary.classes.get(slot.class_id)
        if slot.weekday is None or klass is None:
            continue
        homeroom = klass.title if klass.title in titles else klass.title.split(" ", 1)[0]
        teacher = diary.people.get(slot.teacher_id) if slot.teacher_id else None
        rows.append(
            [
                homeroom,
                S.WEEKDAYS[slot.weekday - 1],
                slot.start,
                slot.end,
                slot.subject,
                _fio(teacher) if teacher is not None and teacher.role.is_staff else None,
                slot.room,
                S.YES if slot.distance else S.NO,
            ]
        )
    return rows
