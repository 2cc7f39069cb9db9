"""parta's spreadsheet for schools without a OneRoster export: its sheets and columns.

One workbook, one school; a sheet per kind of row, a column per field, names in Russian
as a school secretary reads them. The reader (:mod:`workbook`) and the template writer
(``parta roster template``) both follow this table, so they cannot drift apart::

    Школа        Название, Код                          (optional: else the file's name)
    Классы       Параллель, Буква, Классный руководитель, Код
    Учителя      ФИО, Роль, Телефон, Эл. почта, Логин, Код
    Ученики      ФИО, Класс, Дата рождения, Телефон, Эл. почта, Логин, Код
    Родители     ФИО, Телефон, Эл. почта, Ребёнок, Класс ребёнка, Логин, Код, Код ребёнка
    Расписание   Класс, День недели, Начало, Конец, Предмет, Учитель, Кабинет, Дистанционно

Columns are found by their header (case, spaces and ё/е ignored), in any order; ``Код``
is the person's or class's id, written by ``parta roster export`` and best left alone
(a blank one is made from the row: a new person); ``Код ребёнка`` tells apart children
of the same name in one class (twins named alike happen in exports). ``Логин`` is the
diary's sign-in name (blank: the person signs in by phone, e-mail or ``Код``).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHOOL = "Школа"
CLASSES = "Классы"
TEACHERS = "Учителя"
STUDENTS = "Ученики"
PARENTS = "Родители"
TIMETABLE = "Расписание"

NAME = "ФИО"
CODE = "Код"
LOGIN = "Логин"
PHONE = "Телефон"
EMAIL = "Эл. почта"
GRADE = "Параллель"
LETTER = "Буква"
CLASS_TEACHER = "Классный руководитель"
ROLE = "Роль"
CLASS = "Класс"
BIRTH = "Дата рождения"
CHILD = "Ребёнок"
CHILD_CLASS = "Класс ребёнка"
CHILD_CODE = "Код ребёнка"
WEEKDAY = "День недели"
START = "Начало"
END = "Конец"
SUBJECT = "Предмет"
TEACHER = "Учитель"
ROOM = "Кабинет"
DISTANCE = "Дистанционно"
SCHOOL_NAME = "Название"

TEACHER_ROLE = "учитель"
ADMINISTRATION_ROLE = "администрация"
ROLES = (TEACHER_ROLE, ADMINISTRATION_ROLE)
GRADES = tuple(str(n) for n in range(1, 12))
LETTERS = tuple("АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЭЮЯ")
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
YES, NO = "да", "нет"


@dataclass(frozen=True)
class Column:
    title: str
    required: bool = False
    choices: tuple[str, ...] = ()
    """The data validation list the template offers (and the reader accepts)."""
    width: int = 16
    example: str = ""


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: tuple[Column, ...]
    required: bool = True
    """Whether the workbook must have the sheet at all."""
    needs_rows: bool = True
    """Whether an empty sheet is a mistake (a school has classes; it may have no parents)."""


_CODE = Column(CODE, width=12)
_LOGIN = Column(LOGIN, width=18)
SHEETS = (
    Sheet(
        SCHOOL,
        (Column(SCHOOL_NAME, True, width=40, example="МАОУ СОШ № 1"), _CODE),
        required=False,
    ),
    Sheet(
        CLASSES,
        (
            Column(GRADE, True, GRADES, 11, "5"),
            Column(LETTER, True, LETTERS, 9, "А"),
            Column(CLASS_TEACHER, width=34, example="Петрова Анна Сергеевна"),
            _CODE,
        ),
    ),
    Sheet(
        TEACHERS,
        (
            Column(NAME, True, width=34, example="Петрова Анна Сергеевна"),
            Column(ROLE, True, ROLES, 16, TEACHER_ROLE),
            Column(PHONE, width=18, example="+7 912 000-00-01"),
            Column(EMAIL, width=26, example="petrova@school.example"),
            _LOGIN,
            _CODE,
        ),
    ),
    Sheet(
        STUDENTS,
        (
            Column(NAME, True, width=34, example="Смирнов Иван Андреевич"),
            Column(CLASS, True, width=8, example="5А"),
            Column(BIRTH, width=15, example="01.02.2014"),
            Column(PHONE, width=18),
            Column(EMAIL, width=26),
            _LOGIN,
            _CODE,
        ),
    ),
    Sheet(
        PARENTS,
        (
            Column(NAME, True, width=34, example="Смирнова Ольга Павловна"),
            Column(PHONE, width=18, example="8 (912) 000-00-20"),
            Column(EMAIL, width=26),
            Column(CHILD, True, width=34, example="Смирнов Иван Андреевич"),
            Column(CHILD_CLASS, width=14, example="5А"),
            _LOGIN,
            _CODE,
            Column(CHILD_CODE, width=12),
        ),
        needs_rows=False,
    ),
    Sheet(
        TIMETABLE,
        (
            Column(CLASS, True, width=8, example="5А"),
            Column(WEEKDAY, True, WEEKDAYS, 15, "понедельник"),
            Column(START, True, width=9, example="08:30"),
            Column(END, True, width=9, example="09:15"),
            Column(SUBJECT, True, width=22, example="Математика"),
            Column(TEACHER, width=34, example="Петрова Анна Сергеевна"),
            Column(ROOM, width=10, example="каб. 21"),
            Column(DISTANCE, choices=(YES, NO), width=14, example=NO),
        ),
        required=False,
        needs_rows=False,
    ),
)
BY_TITLE = {sheet.title: sheet for sheet in SHEETS}
