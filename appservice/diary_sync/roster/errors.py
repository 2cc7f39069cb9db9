"""What a roster import reports: what refuses it, and what is odd but usable.

An import either yields a whole :class:`~appservice.diary_sync.model.Diary` or
raises :class:`RosterError` carrying every :class:`Problem` found, so a school
fixes its export in one round instead of one error at a time. Warnings are
problems too (same place, same shape), kept apart: they never refuse an
import unless the operator asks for ``--strict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

_SHOWN_IN_MESSAGE = 20


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place of one file.

    ``line`` is the physical line the CSV record starts on (the header is line 1);
    file-level problems use line 0 and an empty column.
    """

    file: str
    line: int
    column: str
    reason: str
    severity: Severity = Severity.ERROR
    in_sheet: bool = False
    """A spreadsheet's: ``file`` is the sheet, ``column`` its letter (``Ученики!C14``)."""

    def __str__(self) -> str:
        marker = ""
        if self.severity is Severity.WARNING:
            marker = "предупреждение: " if self.in_sheet else "warning: "
        return f"{self.place}: {marker}{self.reason}"

    @property
    def place(self) -> str:
        if not self.in_sheet:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line and self.column:
            return f"{self.file}!{self.column}{self.line}"
        return f"{self.file}!{self.line}:{self.line}" if self.line else self.file

    def as_warning(self) -> Problem:
        return replace(self, severity=Severity.WARNING)

    def as_error(self) -> Problem:
        """A warning made an error (``--strict``): it says why it refuses."""
        if self.severity is Severity.ERROR:
            return self
        return replace(self, severity=Severity.ERROR, reason=f"{self.reason} [--strict]")


class RosterError(Exception):
    """The roster was refused; permanent until the export is fixed."""

    transient = False

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.warnings: tuple[Problem, ...] = tuple(warnings)
        shown = [str(problem) for problem in self.problems[:_SHOWN_IN_MESSAGE]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"... and {hidden} more")
        super().__init__(
            f"roster refused with {len(self.problems)} problem(s):\n" + "\n".join(shown)
        )
