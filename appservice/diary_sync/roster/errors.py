"""What a roster import reports when it refuses a file.

An import either yields a whole :class:`~appservice.diary_sync.model.Diary` or
raises :class:`RosterError` carrying every :class:`Problem` found, so a school
fixes its export in one round instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_SHOWN_IN_MESSAGE = 20


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

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.reason}"


class RosterError(Exception):
    """The roster was refused; permanent until the export is fixed."""

    transient = False

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        shown = [str(problem) for problem in self.problems[:_SHOWN_IN_MESSAGE]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"... and {hidden} more")
        super().__init__(
            f"roster refused with {len(self.problems)} problem(s):\n" + "\n".join(shown)
        )
