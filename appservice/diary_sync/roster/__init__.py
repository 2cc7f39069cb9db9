"""Roster importer: OneRoster 1.0/1.1/1.2 CSV or Microsoft SDS v2.1 CSV (folder or zip) to a Diary.

from appservice.diary_sync.roster import load_roster, check_roster, RosterError
diary = load_roster(Path("export.zip"))            # bulk
diary = load_roster(Path("delta/"), base=diary)    # delta applied to the last import
roster = check_roster(Path("delta/"))              # a delta alone: its changes, warnings
"""

from appservice.diary_sync.roster.delta import FileChanges
from appservice.diary_sync.roster.errors import Problem, RosterError, Severity
from appservice.diary_sync.roster.loader import Roster, check_roster, load_roster

__all__ = [
    "FileChanges",
    "Problem",
    "Roster",
    "RosterError",
    "Severity",
    "check_roster",
    "load_roster",
]
