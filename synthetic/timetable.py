"""A week's timetable for a generated school: the demo's Дневник has lessons to show.

Monday to Friday, four lessons a day in grades 1–4 and six above, each homeroom's
subjects in turn; the last lesson on Friday is a distance lesson, so the week view
shows its icon. No randomness: the diary generated from a seed stays the same.
"""

from __future__ import annotations

import csv
import itertools
from datetime import date, datetime, time, timedelta
from pathlib import Path

from appservice.diary_sync.model import ClassKind, Diary, SchoolClass
from appservice.diary_sync.timetable import COLUMNS, Slot, Timetable
from kernel.ids import SourcedId

_BELLS = ("08:30", "09:25", "10:30", "11:35", "12:30", "13:25")
_LESSON_MINUTES = 45


def weekly_timetable(diary: Diary) -> Timetable:
    homerooms = sorted(
        (c for c in diary.classes.values() if c.kind is ClassKind.HOMEROOM),
        key=lambda c: (int(c.grade or 0), c.title),
    )
    slots: list[Slot] = []
    for number, homeroom in enumerate(homerooms):
        subjects = _subject_classes(diary, homeroom)
        if not subjects:
            continue
        per_day = 4 if int(homeroom.grade or 0) <= 4 else len(_BELLS)
        turn = itertools.cycle(subjects)
        for weekday, period in itertools.product(range(1, 6), range(per_day)):
            klass = next(turn)
            start = time.fromisoformat(_BELLS[period])
            end = (datetime.combine(date.min, start) + timedelta(minutes=_LESSON_MINUTES)).time()
            code = homeroom.id.removeprefix("cls-")
            slots.append(
                Slot(
                    SourcedId(f"tt-{code}-{weekday}-{period + 1}"),
                    klass.id,
                    start,
                    end,
                    klass.subject,
                    diary.class_teacher(klass.id),
                    f"каб. {10 + number}",
                    distance=weekday == 5 and period == per_day - 1,
                    weekday=weekday,
                )
            )
    return Timetable(tuple(slots))


def _subject_classes(diary: Diary, homeroom: SchoolClass) -> list[SchoolClass]:
    prefix = f"{homeroom.id}-"
    return sorted(
        (
            c
            for c in diary.classes.values()
            if c.kind is ClassKind.SCHEDULED and c.id.startswith(prefix)
        ),
        key=lambda c: c.id,
    )


def write_timetable(timetable: Timetable, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        for s in timetable.slots:
            when = (s.day.isoformat(), "") if s.day else ("", str(s.weekday))
            times = (s.start.strftime("%H:%M"), s.end.strftime("%H:%M"))
            flag = "true" if s.distance else "false"
            row = (s.id, s.class_id, *when, *times, s.subject, s.teacher_id or "", s.room, flag)
            writer.writerow(row)
