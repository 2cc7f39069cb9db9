"""A synthetic district: several schools in one OneRoster export (a region's one SIS).

    generate_district(3, 350) ─► generate_school ×3 (seeds 1, 2, 3) ─► ids prefixed per
    school (``s02-stu-0001``), usernames and e-mails suffixed ─► a few people of two
    schools ─► one Diary, one timetable

Schools are ``org-01``…, named «МАОУ СОШ № …». From the second school on, one teacher of
the school before also works here (a second role), and one parent of the school before
also has a child here: the cases a district's split must get right.
"""

from __future__ import annotations

from dataclasses import replace

from appservice.diary_sync.model import Diary, Enrollment, Guardianship, Person
from appservice.diary_sync.timetable import Timetable
from kernel.ids import SourcedId
from synthetic.school import GeneratedSchool, generate_school


def school_id(number: int) -> SourcedId:
    return SourcedId(f"org-{number:02d}")


def generate_district(schools: int, students: int, seed: int = 1) -> GeneratedSchool:
    """``schools`` schools of ``students`` pupils each; the same arguments, the same district."""
    if schools < 1:
        raise ValueError("a district needs at least one school")
    parts = [
        _prefixed(
            generate_school(
                students,
                seed=seed + n - 1,
                school_name=f"МАОУ СОШ № {n}",
                school_id=school_id(n),
            ),
            n,
        )
        for n in range(1, schools + 1)
    ]
    diary = _merged([p.diary for p in parts])
    diary = _shared_people(diary, schools)
    slots = tuple(s for p in parts for s in p.timetable.slots)
    return GeneratedSchool(_unique_phones(diary), Timetable(slots))


def _prefixed(school: GeneratedSchool, number: int) -> GeneratedSchool:
    """Every id of the school but its own carries ``sNN-``; logins carry ``.NN``."""
    prefix = f"s{number:02d}-"

    def pid(value: SourcedId) -> SourcedId:
        return SourcedId(prefix + value)

    diary = school.diary
    people = {}
    for person in diary.people.values():
        login = f"{person.username}.{number:02d}"
        email = f"{login}@school{number}.example" if person.email else ""
        people[pid(person.id)] = replace(person, id=pid(person.id), username=login, email=email)
    renamed = Diary(
        schools=diary.schools,
        classes={pid(c): replace(x, id=pid(c)) for c, x in diary.classes.items()},
        people=people,
        enrollments=frozenset(
            Enrollment(pid(e.class_id), pid(e.person_id), e.role, e.primary, pid(e.id))
            for e in diary.enrollments
        ),
        guardianships=frozenset(
            Guardianship(pid(g.parent_id), pid(g.student_id)) for g in diary.guardianships
        ),
        extensions={
            file: {pid(k): v for k, v in rows.items()} for file, rows in diary.extensions.items()
        },
    )
    slots = tuple(
        replace(
            s,
            id=pid(s.id),
            class_id=pid(s.class_id),
            teacher_id=None if s.teacher_id is None else pid(s.teacher_id),
        )
        for s in school.timetable.slots
    )
    return GeneratedSchool(renamed, Timetable(slots))


def _merged(diaries: list[Diary]) -> Diary:
    extensions: dict[str, dict[SourcedId, dict[str, str]]] = {}
    for d in diaries:
        for file, rows in d.extensions.items():
            extensions.setdefault(file, {}).update({k: dict(v) for k, v in rows.items()})
    return Diary(
        schools={k: v for d in diaries for k, v in d.schools.items()},
        classes={k: v for d in diaries for k, v in d.classes.items()},
        people={k: v for d in diaries for k, v in d.people.items()},
        enrollments=frozenset(e for d in diaries for e in d.enrollments),
        guardianships=frozenset(g for d in diaries for g in d.guardianships),
        extensions=extensions,
    )


def _shared_people(diary: Diary, schools: int) -> Diary:
    """From the second school on: the school before's first teacher works here too, and its
    first parent has a child here (the first pupil) as well."""
    people = dict(diary.people)
    guardianships = set(diary.guardianships)
    for n in range(2, schools + 1):
        before, here = f"s{n - 1:02d}-", school_id(n)
        teacher = _first(people, f"{before}tch-")
        parent = _first(people, f"{before}par-")
        pupil = _first(people, f"s{n:02d}-stu-")
        if teacher is not None:
            people[teacher.id] = replace(teacher, school_ids=teacher.school_ids | {here})
        if parent is not None and pupil is not None:
            guardianships.add(Guardianship(parent.id, pupil.id))
    return replace(diary, people=people, guardianships=frozenset(guardianships))


def _first(people: dict[SourcedId, Person], prefix: str) -> Person | None:
    found = sorted(p for p in people if p.startswith(prefix))
    return people[found[0]] if found else None


def _unique_phones(diary: Diary) -> Diary:
    """Each school drew its phones alone: a number drawn twice goes to its second owner
    changed (the diary's logins by phone must stay unique)."""
    seen: set[str] = set()
    people = {}
    for pid in sorted(diary.people):
        person = diary.people[pid]
        phone = person.phone
        while phone and phone in seen:
            phone = f"+79{(int(phone[3:]) + 1) % 10**9:09d}"
        if phone:
            seen.add(phone)
        people[pid] = person if phone == person.phone else replace(person, phone=phone)
    return replace(diary, people=people)
