"""A spreadsheet's sheets as rows of cells, and the cells as names, phones, dates, times.

    .xlsx bytes ──openpyxl──► sheets ──header row──► SheetRow(values by column title)
                                    └─ merged cells: a block down one column is read in
                                       each of its rows (a warning); any other is refused

Every value is read the way a person typed it: a date typed as text («01.02.2014»), a
phone in any Russian spelling (8 (912) …, +7 912 …, a number cell), an ФИО with or
without a patronymic. What cannot be read is a :class:`Problem` at its cell, in Russian.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import phonenumbers
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from appservice.diary_sync.roster.errors import Problem, Severity
from appservice.diary_sync.roster.sheets import Sheet
from appservice.diary_sync.roster.source import MAX_TOTAL

MAX_ROWS = 20_000
"""Rows per sheet: a big school has 3,000 people; past this it is not a school's list."""
Value = str | int | float | bool | date | datetime | time | None


def sheet_problem(
    sheet: str, line: int, column: str, reason: str, severity: Severity = Severity.ERROR
) -> Problem:
    return Problem(sheet, line, column, reason, severity, in_sheet=True)


@dataclass(frozen=True)
class Cell:
    sheet: str
    line: int
    letter: str
    """The column's letter (``C``); blank when the sheet has no such column."""
    value: Value

    @property
    def text(self) -> str:
        """The value as text: a whole number without ``.0``, a date as ДД.ММ.ГГГГ."""
        value = self.value
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, datetime | date):
            return value.strftime("%d.%m.%Y")
        return str(value).strip()

    def problem(self, reason: str, severity: Severity = Severity.ERROR) -> Problem:
        return sheet_problem(self.sheet, self.line, self.letter, reason, severity)


@dataclass(frozen=True)
class SheetRow:
    sheet: str
    line: int
    cells: Mapping[str, Cell]
    """By column title as :mod:`sheets` spells it."""

    def __getitem__(self, title: str) -> Cell:
        return self.cells.get(title) or Cell(self.sheet, self.line, "", None)


def open_workbook(name: str, data: bytes) -> tuple[Workbook | None, list[Problem]]:
    """The workbook, or why it cannot be read (never an exception: the file is anybody's)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as packed:
            unpacked = sum(info.file_size for info in packed.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        reason = "не книга Excel (.xlsx): сохраните файл в Excel как «Книга Excel (*.xlsx)»"
        return None, [sheet_problem(name, 0, "", reason)]
    if unpacked > MAX_TOTAL:
        return None, [sheet_problem(name, 0, "", f"распаковывается в {unpacked} байт: не список")]
    try:
        return load_workbook(io.BytesIO(data), data_only=True), []
    except Exception as error:  # openpyxl raises whatever its XML parser meets
        reason = f"не удаётся прочитать книгу Excel: {error}"
        return None, [sheet_problem(name, 0, "", reason)]


def find_sheet(book: Workbook, title: str) -> Worksheet | None:
    for sheet in book.worksheets:
        if _key(sheet.title) == _key(title):
            return sheet
    return None


def read_rows(
    sheet: Worksheet, spec: Sheet, problems: list[Problem], warnings: list[Problem]
) -> list[SheetRow]:
    """Data rows (after the header) that hold anything; problems of the sheet's shape."""
    title = spec.title
    if sheet.max_row > MAX_ROWS:
        problems.append(sheet_problem(title, 0, "", f"больше {MAX_ROWS} строк: не список школы"))
        return []
    values = _values(sheet)
    filled = _merged(sheet, title, values, problems, warnings)
    header = [_text(values.get((1, col))) for col in range(1, sheet.max_column + 1)]
    columns = _columns(title, header, spec, problems)
    if columns is None:
        return []
    rows = []
    for line in range(2, sheet.max_row + 1):
        cells = {
            name: Cell(title, line, get_column_letter(col), filled.get((line, col)))
            for name, col in columns.items()
        }
        if any(cell.text for cell in cells.values()):
            rows.append(SheetRow(title, line, cells))
    if spec.needs_rows and not rows:
        problems.append(sheet_problem(title, 0, "", "лист пуст: заполните его, строка за строкой"))
    return rows


def _values(sheet: Worksheet) -> dict[tuple[int, int], Value]:
    found: dict[tuple[int, int], Value] = {}
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is not None and cell.row is not None and cell.column is not None:
                found[cell.row, cell.column] = _plain(cell.value)
    return found


def _plain(value: object) -> Value:
    """Rich text, formulas without a cached value, durations: as the text they show."""
    if isinstance(value, str | int | float | date | time):
        return value
    return str(value)


def _merged(
    sheet: Worksheet,
    title: str,
    values: dict[tuple[int, int], Value],
    problems: list[Problem],
    warnings: list[Problem],
) -> dict[tuple[int, int], Value]:
    """Values with each vertical merged block read into all its rows."""
    filled = dict(values)
    for block in sheet.merged_cells.ranges:
        first = get_column_letter(block.min_col)
        at = f"{first}{block.min_row}:{get_column_letter(block.max_col)}{block.max_row}"
        if block.min_col != block.max_col or block.min_row == 1:
            reason = f"объединённые ячейки {at}: разъедините их (Главная → Объединить)"
            problems.append(sheet_problem(title, block.min_row, first, reason))
            continue
        value = values.get((block.min_row, block.min_col))
        for line in range(block.min_row, block.max_row + 1):
            filled[line, block.min_col] = value
        reason = f"объединённые ячейки {at}: «{_text(value)}» прочитано в каждой строке"
        warnings.append(sheet_problem(title, block.min_row, first, reason, Severity.WARNING))
    return filled


def _columns(
    title: str, header: list[str], spec: Sheet, problems: list[Problem]
) -> dict[str, int] | None:
    """Column title → column number; ``None`` when the sheet has no header at all."""
    if not any(header):
        names = ", ".join(column.title for column in spec.columns)
        problems.append(sheet_problem(title, 1, "A", f"нет заголовков: в строке 1 — {names}"))
        return None
    by_key = {_key(text): number for number, text in enumerate(header, start=1) if text}
    found: dict[str, int] = {}
    for column in spec.columns:
        number = by_key.get(_key(column.title))
        if number is not None:
            found[column.title] = number
        elif column.required:
            reason = f"нет столбца «{column.title}» в строке заголовков"
            problems.append(sheet_problem(title, 1, "", reason))
    return found


def _key(text: str) -> str:
    return re.sub(r"[\s._]+", "", text).lower().replace("ё", "е")


def _text(value: Value) -> str:
    return Cell("", 0, "", value).text


def name_key(text: str) -> str:
    """ФИО as compared: case, ё/е and extra spaces do not make two people."""
    return " ".join(text.lower().replace("ё", "е").split())


# What the cells hold


def read_text(cell: Cell, problems: list[Problem], required: bool = False) -> str:
    if required and not cell.text:
        problems.append(cell.problem("пустая ячейка: здесь нужно значение"))
    return cell.text


def read_name(cell: Cell, problems: list[Problem]) -> tuple[str, str, str] | None:
    """(family, given, middle): «Иванов Иван Иванович», «Мамедов Эльдар Рашид оглы»."""
    words = cell.text.split()
    if not words:
        problems.append(cell.problem("пустая ячейка: нужно ФИО"))
        return None
    if len(words) < 2:
        problems.append(cell.problem(f"«{cell.text}»: нужны фамилия и имя (и отчество)"))
        return None
    if re.fullmatch(r"\w\.(\w\.)?", words[1]):
        problems.append(cell.problem(f"«{cell.text}»: нужно полное имя, не инициалы"))
        return None
    return words[0], words[1], " ".join(words[2:])


def read_phone(cell: Cell, problems: list[Problem], warnings: list[Problem] | None = None) -> str:
    """E.164 (+79120000001) from any Russian spelling; blank stays blank.

    A number of the right shape in no operator's range (phonenumbers knows them) is
    kept with a warning: new ranges are issued faster than libraries learn them.
    """
    text = cell.text
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        problems.append(cell.problem(f"«{text}» — не номер телефона (пример: +7 912 000-00-01)"))
        return ""
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) and warnings is not None:
        reason = f"«{text}»: номера {e164} нет среди выданных операторами — проверьте его"
        warnings.append(cell.problem(reason, Severity.WARNING))
    return e164


def read_email(cell: Cell, problems: list[Problem]) -> str:
    text = cell.text
    if text and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        problems.append(cell.problem(f"«{text}» — не адрес электронной почты"))
        return ""
    return text


_DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
_EXCEL_EPOCH = date(1899, 12, 30)


def read_date(cell: Cell, problems: list[Problem]) -> date | None:
    """A date cell, or a date typed as text (ДД.ММ.ГГГГ), or Excel's day number."""
    value = cell.value
    if value is None or cell.text == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 100_000:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    for shape in _DATE_FORMATS:
        try:
            return datetime.strptime(cell.text, shape).date()
        except ValueError:
            continue
    problems.append(cell.problem(f"«{cell.text}» — не дата: введите ДД.ММ.ГГГГ (01.09.2014)"))
    return None


def read_time(cell: Cell, problems: list[Problem]) -> time | None:
    """A time cell, a fraction of a day, or text «8:30», «08.30»."""
    value = cell.value
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, float) and 0 <= value < 1:
        minutes = round(value * 24 * 60)
        return time(minutes // 60, minutes % 60)
    match = re.fullmatch(r"(\d{1,2})[:.](\d{2})", cell.text)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    shown = f"«{cell.text}» — не время" if cell.text else "пустая ячейка"
    problems.append(cell.problem(f"{shown}: введите ЧЧ:ММ (08:30)"))
    return None


def read_choice(cell: Cell, choices: tuple[str, ...], problems: list[Problem]) -> str | None:
    text = cell.text.lower().replace("ё", "е")
    for choice in choices:
        if text == choice.lower().replace("ё", "е"):
            return choice
    listed = ", ".join(choices)
    reason = "пустая ячейка" if not cell.text else f"«{cell.text}» — нет в списке"
    problems.append(cell.problem(f"{reason}: выберите одно из: {listed}"))
    return None
