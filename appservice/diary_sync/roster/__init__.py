"""Roster importer: OneRoster 1.1/1.2 CSV (folder or zip) and SDS relationships to a Diary.

from appservice.diary_sync.roster import load_roster, RosterError
diary = load_roster(Path("export.zip"))            # bulk
diary = load_roster(Path("delta/"), base=diary)    # delta applied to the last import
"""

from appservice.diary_sync.roster.errors import Problem, RosterError
from appservice.diary_sync.roster.loader import load_roster

__all__ = ["Problem", "RosterError", "load_roster"]
