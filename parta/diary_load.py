"""The diary reads the roster the sync reads: load both, check both, then store both.

``timetable.csv`` lies beside the OneRoster files. A delta export without one keeps
the timetable already loaded; a bad one refuses the whole import, before the sync
touches Matrix, so a school never runs on half of a roster.
"""

from __future__ import annotations

from pathlib import Path

from appservice.diary_sync.model import Diary
from appservice.diary_sync.roster.errors import RosterError
from appservice.diary_sync.roster.source import read_source
from appservice.diary_sync.roster.workbook import is_workbook, read_workbook
from appservice.diary_sync.timetable import TIMETABLE, Timetable, load_timetable
from web_client.store import DiaryStore


def read_timetable(source: Path, diary: Diary) -> Timetable | None:
    """The export's timetable checked against ``diary``; ``None`` when it has none.

    parta's spreadsheet holds its own («Расписание»), read with the rest of it.
    """
    if is_workbook(source.name) and source.is_file():
        return read_workbook(source.name, source.read_bytes()).timetable
    files, problems = read_source(source)
    if problems:
        raise RosterError(problems)
    data = files.get(TIMETABLE)
    return None if data is None else load_timetable(data, diary)


def store_diary(store: DiaryStore, diary: Diary, timetable: Timetable | None) -> None:
    store.load(diary, timetable if timetable is not None else store.timetable())
