"""parta's spreadsheet: a school secretary's workbook read into the diary, cell by cell,
and written back for editing. Workbooks are made by hand in each test with openpyxl."""

from __future__ import annotations

import io
from datetime import date, time
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from appservice.diary_sync.model import EnrollmentRole, Role
from appservice.diary_sync.roster import Problem, RosterError, Severity, check_roster
from appservice.diary_sync.roster.workbook import WorkbookRoster, read_workbook
from kernel.ids import SourcedId
from parta import spreadsheet
from parta.cli import main

Rows = list[list[object]]
SCHOOL: dict[str, Rows] = {
    "Школа": [["Название", "Код"], ["МАОУ СОШ № 7", "org-7"]],
    "Учителя": [
        ["ФИО", "Роль", "Телефон", "Эл. почта", "Код", "Логин"],
        [
            "Петрова Анна Сергеевна",
            "учитель",
            "+7 912 000-00-01",
            "petrova@school.example",
            "",
            "petrova.as",
        ],
        ["Орлов Дмитрий Николаевич", "администрация", "", "", ""],
        ["Мамедов Эльдар Рашид оглы", "Учитель", 89120000002, "", ""],
    ],
    "Классы": [
        ["Параллель", "Буква", "Классный руководитель", "Код"],
        [5, "А", "Петрова Анна Сергеевна", ""],
        ["10", "б", "", ""],
    ],
    "Ученики": [
        ["ФИО", "Класс", "Дата рождения", "Телефон", "Эл. почта", "Код"],
        ["Смирнов Иван Андреевич", "5А", date(2014, 2, 1), "", "", ""],
        ["Кузнецова Анна", "5 а", "03.04.2014", "", "", ""],
        ["Соколов Пётр Игоревич", "10Б", None, "8 (912) 000-00-11", "", ""],
    ],
    "Родители": [
        ["ФИО", "Телефон", "Эл. почта", "Ребёнок", "Класс ребёнка", "Код"],
        ["Смирнова Ольга Павловна", "8 (912) 000-00-20", "", "Смирнов Иван Андреевич", "5А", ""],
        ["Смирнова Ольга Павловна", "8 (912) 000-00-20", "", "Соколов Пётр Игоревич", "", ""],
    ],
    "Расписание": [
        ["Класс", "День недели", "Начало", "Конец", "Предмет", "Учитель", "Кабинет"],
        [
            "5А",
            "понедельник",
            time(8, 30),
            time(9, 15),
            "Математика",
            "Петрова Анна Сергеевна",
            "21",
        ],
        ["5А", "Среда", "9:25", "10:10", "Математика", "Мамедов Эльдар Рашид оглы", ""],
    ],
}


def workbook(changes: dict[str, Rows | None] | None = None) -> bytes:
    """The school above; ``changes`` replace sheets, ``None`` leaves a sheet out."""
    sheets = {**SCHOOL, **(changes or {})}
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        if rows is None:
            continue
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read(data: bytes) -> WorkbookRoster:
    return read_workbook("школа.xlsx", data)


def refused(data: bytes) -> list[str]:
    with pytest.raises(RosterError) as caught:
        read(data)
    return [str(p) for p in caught.value.problems]


def with_rows(sheet: str, *rows: list[object]) -> dict[str, Rows | None]:
    return {sheet: [SCHOOL[sheet][0], *rows]}


def test_a_filled_workbook_is_the_school() -> None:
    roster = read(workbook())
    diary = roster.diary
    assert roster.warnings == ()
    assert diary.schools[SourcedId("org-7")].name == "МАОУ СОШ № 7"
    people = {(p.family_name, p.given_name, p.middle_name): p for p in diary.people.values()}
    assert people["Мамедов", "Эльдар", "Рашид оглы"].phone == "+79120000002"  # a number cell
    assert people["Кузнецова", "Анна", ""].role is Role.STUDENT
    assert people["Орлов", "Дмитрий", "Николаевич"].role is Role.ADMINISTRATOR
    mother = people["Смирнова", "Ольга", "Павловна"]
    assert mother.phone == "+79120000020"
    ivan, petr = people["Смирнов", "Иван", "Андреевич"], people["Соколов", "Пётр", "Игоревич"]
    assert {g.student_id for g in diary.guardianships if g.parent_id == mother.id} == {
        ivan.id,
        petr.id,
    }
    petrova = people["Петрова", "Анна", "Сергеевна"]
    assert (petrova.username, petrova.email) == ("petrova.as", "petrova@school.example")
    assert diary.class_teacher(SourcedId("cls-5a")) == petrova.id
    assert diary.members_of(SourcedId("cls-5a"), EnrollmentRole.STUDENT) == {
        ivan.id,
        people["Кузнецова", "Анна", ""].id,
    }
    assert diary.classes[SourcedId("cls-10b")].title == "10Б"


def test_the_timetable_makes_subject_classes_with_their_teachers() -> None:
    roster = read(workbook())
    math = {s.class_id for s in roster.timetable.slots}
    (class_id,) = math
    klass = roster.diary.classes[class_id]
    assert (klass.title, klass.subject, klass.grade) == ("5А Математика", "Математика", "5")
    teachers = roster.diary.members_of(class_id, EnrollmentRole.TEACHER)
    assert len(teachers) == 2
    assert roster.diary.members_of(class_id, EnrollmentRole.STUDENT) == roster.diary.members_of(
        SourcedId("cls-5a"), EnrollmentRole.STUDENT
    )
    starts = sorted((s.weekday, s.start) for s in roster.timetable.slots)
    assert starts == [(1, time(8, 30)), (3, time(9, 25))]


def test_reading_twice_gives_the_same_ids() -> None:
    assert read(workbook()).diary == read(workbook()).diary


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("12345", "Учителя!C2: «12345» — не номер телефона (пример: +7 912 000-00-01)"),
        ("+7 912 abc", "Учителя!C2: «+7 912 abc» — не номер телефона (пример: +7 912 000-00-01)"),
    ],
)
def test_a_bad_phone_is_refused_at_its_cell(phone: str, expected: str) -> None:
    rows = [*SCHOOL["Учителя"]]
    rows[1] = ["Петрова Анна Сергеевна", "учитель", phone, "", ""]
    assert refused(workbook({"Учителя": rows})) == [expected]


def test_a_date_typed_as_text_is_read_and_a_non_date_refused() -> None:
    diary = read(workbook()).diary
    anna = next(p for p in diary.people.values() if p.family_name == "Кузнецова")
    assert diary.extensions["Ученики"][anna.id] == {"Дата рождения": "2014-04-03"}
    rows = [*SCHOOL["Ученики"]]
    rows[2] = ["Кузнецова Анна", "5А", "3 апреля", "", "", ""]
    assert refused(workbook({"Ученики": rows})) == [
        "Ученики!C3: «3 апреля» — не дата: введите ДД.ММ.ГГГГ (01.09.2014)"
    ]


def merged(cells: str) -> bytes:
    book = load_workbook(io.BytesIO(workbook()))
    book["Ученики"]["B3"] = None
    book["Ученики"].merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_merged_block_down_a_column_is_read_in_each_row_with_a_warning() -> None:
    roster = read(merged("B2:B3"))
    anna = next(p for p in roster.diary.people.values() if p.family_name == "Кузнецова")
    assert anna.id in roster.diary.members_of(SourcedId("cls-5a"), EnrollmentRole.STUDENT)
    (warning,) = roster.warnings
    assert warning.severity is Severity.WARNING
    assert str(warning) == (
        "Ученики!B2: предупреждение: объединённые ячейки B2:B3: «5А» прочитано в каждой строке"
    )


def test_a_merged_block_across_columns_is_refused() -> None:
    assert refused(merged("B3:C3")) == [
        "Ученики!B3: объединённые ячейки B3:C3: разъедините их (Главная → Объединить)"
    ]


def test_an_empty_sheet_is_refused_where_rows_are_needed() -> None:
    assert refused(workbook({"Ученики": [SCHOOL["Ученики"][0]]})) == [
        "Ученики: лист пуст: заполните его, строка за строкой"
    ]


def test_a_sheet_without_headers_names_them() -> None:
    (problem,) = refused(workbook({"Ученики": []}))
    assert problem.startswith("Ученики!A1: нет заголовков: в строке 1 — ФИО, Класс")


def test_no_parents_and_no_timetable_is_a_school_still() -> None:
    roster = read(workbook({"Родители": [SCHOOL["Родители"][0]], "Расписание": None}))
    assert roster.diary.guardianships == frozenset()
    assert roster.timetable.slots == ()


def test_a_missing_sheet_is_named() -> None:
    assert refused(workbook({"Учителя": None})) == ["школа.xlsx: нет листа «Учителя»"]


@pytest.mark.parametrize(
    ("sheet", "row", "expected"),
    [
        (
            "Ученики",
            ["Смирнов  Иван андреевич", "5А", "01.02.2014", "", "", ""],
            "Ученики!A5: «Смирнов  Иван андреевич» уже есть в строке 2: один человек дважды?"
            " (разным людям — разные «Код»)",
        ),
        (
            "Учителя",
            ["Петрова Анна Сергеевна", "учитель", "", "", ""],
            "Учителя!A5: «Петрова Анна Сергеевна» уже есть в строке 2: один человек дважды?"
            " (разным людям — разные «Код»)",
        ),
        (
            "Ученики",
            ["Иванов", "5А", "", "", "", ""],
            "Ученики!A5: «Иванов»: нужны фамилия и имя (и отчество)",
        ),
        (
            "Ученики",
            ["Иванов И.И.", "5А", "", "", "", ""],
            "Ученики!A5: «Иванов И.И.»: нужно полное имя, не инициалы",
        ),
        (
            "Ученики",
            ["Иванов Илья", "5Д", "", "", "", ""],
            "Ученики!B5: нет класса «5Д» на листе «Классы»",
        ),
        (
            "Учителя",
            ["Иванов Илья", "завуч", "", "", ""],
            "Учителя!B5: «завуч» — нет в списке: выберите одно из: учитель, администрация",
        ),
    ],
    ids=["same student", "same teacher", "no given name", "initials", "no class", "role"],
)
def test_a_bad_row_is_refused_at_its_cell(sheet: str, row: list[object], expected: str) -> None:
    assert refused(workbook({sheet: [*SCHOOL[sheet], row]})) == [expected]


def test_a_phone_two_people_share_is_a_warning() -> None:
    rows = [*SCHOOL["Учителя"]]
    rows[2] = ["Орлов Дмитрий Николаевич", "администрация", "+79120000001", "", ""]
    roster = read(workbook({"Учителя": rows}))
    (warning,) = roster.warnings
    assert warning.place == "Учителя!C3"
    assert "Петрова Анна" in warning.reason


def test_a_file_that_is_no_workbook_says_so() -> None:
    assert refused(b"not a zip at all") == [
        "школа.xlsx: не книга Excel (.xlsx): сохраните файл в Excel как «Книга Excel (*.xlsx)»"
    ]


def test_an_exported_workbook_reads_back_as_the_same_school() -> None:
    first = read(workbook())
    again = read(spreadsheet.export(first.diary, first.timetable))
    assert again.diary == first.diary
    assert again.timetable == first.timetable


def test_the_template_offers_lists_and_checks_as_a_tiny_school(tmp_path: Path) -> None:
    data = spreadsheet.template()
    lists = {
        sheet.title: {v.formula1 for v in sheet.data_validations.dataValidation}
        for sheet in load_workbook(io.BytesIO(data)).worksheets
    }
    assert '"учитель,администрация"' in lists["Учителя"]
    assert any("понедельник" in (f or "") for f in lists["Расписание"])
    roster = read(data)
    assert roster.warnings == ()
    assert len(roster.diary.people) == 3
    assert len(roster.timetable.slots) == 1


def test_the_commands_write_check_and_export_a_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "школа.xlsx"
    assert main(["roster", "template", "--out", str(template)]) == 0
    assert main(["roster", "check", str(template)]) == 0
    assert "таблица parta (xlsx)" in capsys.readouterr().out
    roster = Path(__file__).parent.parent / "fixtures" / "roster" / "v12"
    out = tmp_path / "v12.xlsx"
    assert main(["roster", "export", str(roster), "--xlsx", str(out)]) == 0
    exported = check_roster(out).diary
    original = check_roster(roster).diary
    assert exported is not None
    assert original is not None
    assert exported.people == original.people
    assert exported.guardianships == original.guardianships


def test_roster_check_prints_cells_in_sheet_notation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*SCHOOL["Родители"]]
    rows[1] = ["Смирнова Ольга Павловна", "8 912", "", "Смирнов Иван Андреевич", "5А", ""]
    source = tmp_path / "школа.xlsx"
    source.write_bytes(workbook({"Родители": rows}))
    assert main(["roster", "check", str(source)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "Родители!B2: «8 912» — не номер телефона (пример: +7 912 000-00-01)"
    ]


def test_problem_places() -> None:
    assert Problem("Ученики", 14, "C", "x", in_sheet=True).place == "Ученики!C14"
    assert Problem("users.csv", 3, "role", "x").place == "users.csv:3:role"
