"""«Присутствие» on a distance lesson (D1, E3): who of the class came, for how long. Pure.

The call bridge counts each person's time in the call (overlapping stays once); the diary
names them, lists the class's students who did not come, and writes the same as CSV for the
school's records (semicolons and a BOM: what a Russian spreadsheet opens as it is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from appservice.diary_sync.model import Person
from kernel.contracts.bridge import Presence
from kernel.ids import SourcedId


@dataclass(frozen=True)
class Row:
    name: str
    minutes: int
    came: str
    left: str

    @property
    def present(self) -> bool:
        return bool(self.came)


def rows(
    students: Iterable[Person],
    accounts: Mapping[SourcedId, str],
    presence: Iterable[Presence],
    zone: tzinfo,
) -> list[Row]:
    """Each student of the class, by name: time in the call, first came, last left
    ("" for one who never came); ``accounts`` maps a student's id to her Matrix id."""
    by_user = {p.user_id: p for p in presence}

    def clock(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")

    found = []
    for person in students:
        seen = by_user.get(accounts.get(person.id, ""))
        if seen is None or seen.seconds <= 0:
            found.append(Row(person.display_name, 0, "", ""))
        else:
            minutes = max(1, round(seen.seconds / 60))
            found.append(
                Row(person.display_name, minutes, clock(seen.first_joined), clock(seen.last_left))
            )
    return sorted(found, key=lambda r: (not r.present, r.name))


def csv_text(lesson: str, found: Iterable[Row]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Урок", "Ученик", "Был на уроке", "Минут", "Пришёл", "Ушёл"])
    for r in found:
        writer.writerow([lesson, r.name, "да" if r.present else "нет", r.minutes, r.came, r.left])
    return out.getvalue()
