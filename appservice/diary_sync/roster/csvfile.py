"""Reading one CSV file of a real export, which is messier than the spec.

Exports come from Excel and Russian school systems: a UTF-8 BOM, CRLF, cp1251 or
KOI8-R, UTF-16 from Excel's «Unicode text», headers in odd case, trailing empty cells.
Everything that can be read is read; what cannot becomes a :class:`Problem`, never a
traceback::

    bytes ──decode──► text ──csv.reader──► Table(rows)
           UTF-16 (by its byte-order mark, or its NUL bytes), else UTF-8, else one of the
           Russian 8-bit encodings — cp1251 or KOI8-R, told apart by their letters: names
           are mostly lower-case, and the two put lower and upper case in swapped halves

Header names are matched by a key that ignores case, spaces and underscores, so
``sourcedId``, ``SourcedID`` and ``Sourced Id`` are the same column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from appservice.diary_sync.roster.errors import Problem

_NOISE = re.compile(r"[\s_\ufeff]+")
_EIGHT_BIT = ("cp1251", "koi8_r")


def column_key(name: str) -> str:
    return _NOISE.sub("", name).lower()


@dataclass(frozen=True)
class Row:
    """One data record; ``line`` is where it starts in the file."""

    file: str
    line: int
    cells: Mapping[str, str]
    headers: Mapping[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column_key(column), "")

    def problem(self, column: str, reason: str) -> Problem:
        """A problem in this row, naming the column as the file spells it."""
        return Problem(self.file, self.line, self.headers.get(column_key(column), column), reason)

    def extras(self, known: frozenset[str]) -> dict[str, str]:
        """The row's filled-in unknown (extension) columns, keyed by header as written."""
        return {
            header: self.cells[key]
            for key, header in self.headers.items()
            if key not in known and self.cells.get(key)
        }


@dataclass(frozen=True)
class Table:
    file: str
    headers: Mapping[str, str]
    """Column key -> header as written, in file order."""
    rows: tuple[Row, ...]

    def has(self, column: str) -> bool:
        return column_key(column) in self.headers

    def renamed(self, aliases: Mapping[str, str]) -> Table:
        """Columns an older spelling names (``agents``) read as today's (``agentSourcedIds``);
        problems still name the column as the file spells it."""
        keys = {
            column_key(old): column_key(new)
            for old, new in aliases.items()
            if self.has(old) and not self.has(new)
        }
        if not keys:
            return self
        headers = {keys.get(key, key): header for key, header in self.headers.items()}
        rows = tuple(
            Row(row.file, row.line, {keys.get(k, k): v for k, v in row.cells.items()}, headers)
            for row in self.rows
        )
        return Table(self.file, headers, rows)

    def missing(self, columns: Iterable[str]) -> list[Problem]:
        return [
            Problem(self.file, 1, column, "missing required column")
            for column in columns
            if not self.has(column)
        ]


def read_table(file: str, data: bytes) -> tuple[Table | None, list[Problem]]:
    """Decode and split one file; ``None`` when nothing usable could be read."""
    text = decode(data)
    if text is None:
        reason = "neither UTF-8, UTF-16, cp1251 nor KOI8-R; save the file as UTF-8"
        return None, [Problem(file, 0, "", reason)]
    try:
        return _parse(file, text)
    except _BrokenRecord as error:
        return None, [Problem(file, error.line, "", f"not readable as CSV: {error.reason}")]


class _BrokenRecord(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def decode(data: bytes) -> str | None:
    """The file's text in whichever encoding it really is (see the module's picture)."""
    utf16 = _utf16(data)
    if utf16 is not None:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    readings = [
        text
        for encoding in _EIGHT_BIT
        if (text := _try(data, encoding)) is not None and _russian(text)
    ]
    return max(readings, key=_lower_share, default=None)


def _utf16(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):  # ASCII text in two bytes
        return "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
    return None


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _russian(text: str) -> bool:
    """A Russian roster's only non-ASCII characters are the letters of names."""
    beyond = [c for c in text if ord(c) > 127]
    return sum(_cyrillic(c) for c in beyond) >= 0.9 * len(beyond)


def _cyrillic(c: str) -> bool:
    return "А" <= c <= "я" or c in "Ёё"


def _lower_share(text: str) -> float:
    """Of the Cyrillic letters, how many are lower case (names: most of them)."""
    letters = [c for c in text if _cyrillic(c)]
    return sum(c.islower() for c in letters) / len(letters) if letters else 0.0


def _parse(file: str, text: str) -> tuple[Table | None, list[Problem]]:
    records = _records(text)
    first = next(records, None)
    if first is None:
        return None, [Problem(file, 0, "", "empty file: expected a header line")]
    headers, problems = _headers(file, first[1])
    rows: list[Row] = []
    width = len(first[1])
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            problems.append(Problem(file, line, "", f"{len(cells)} fields, header has {width}"))
            continue
        values = {key: cells[i].strip() for i, key in enumerate(headers) if i < len(cells)}
        nul = [key for key, value in values.items() if "\0" in value]
        if nul:
            problems += [Problem(file, line, headers[k], "contains a NUL character") for k in nul]
            continue
        rows.append(Row(file, line, values, headers))
    return Table(file, headers, tuple(rows)), problems


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the physical line each starts on (quoted fields may span lines).

    Strict, so an unclosed quote is refused instead of swallowing the rest of the file.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    ended = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _BrokenRecord(ended + 1, str(error)) from error
        yield ended + 1, cells
        ended = reader.line_num


def _headers(file: str, cells: list[str]) -> tuple[dict[str, str], list[Problem]]:
    headers: dict[str, str] = {}
    problems: list[Problem] = []
    for index, cell in enumerate(cells):
        header = cell.strip().lstrip("\ufeff")
        key = column_key(header) or f"#{index + 1}"
        if key in headers:
            problems.append(Problem(file, 1, header, "column appears twice in the header"))
            key = f"#{index + 1}"
        headers[key] = header
    return headers, problems
