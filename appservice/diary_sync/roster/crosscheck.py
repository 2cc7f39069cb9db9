"""From records to a Diary, checking that every reference lands somewhere.

    RecordSet ──fold_roles──► users with roles ──build_diary──► Diary (+ problems, warnings)

A reference to a row that was itself refused (``rejected``) is not reported a
second time: one bad user row gives one problem, not one per enrollment.

What OneRoster allows but the diary reads in its own way is a warning, not a refusal:
a class owned by a department goes to the school above it (``parentSourcedId``), and
an enrollment in a role other than the person's own is kept while rooms and safety
follow the person's own role. A delta read without its base (``records.partial``)
cannot know ids outside it: only references to rows it deletes itself are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from appservice.diary_sync.model import (
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    School,
    SchoolClass,
)
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.manifest import CLASSES, ENROLLMENTS, ORGS, USERS
from appservice.diary_sync.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    Extras,
    OrgRecord,
    RecordSet,
    Ref,
    RoleRecord,
    UserRecord,
)
from kernel.ids import SourcedId

_SCHOOL = "school"


def fold_roles(records: RecordSet, roles: Iterable[RoleRecord], problems: list[Problem]) -> None:
    """Give users their ``roles.csv`` role (the primary one wins) and the role's org."""
    by_user: dict[SourcedId, list[RoleRecord]] = {}
    for role in roles:
        if role.user.target not in records.users:
            _dangling(role.user, "user", records, problems)
            continue
        by_user.setdefault(role.user.target, []).append(role)
    for user_id, rows in by_user.items():
        rows.sort(key=lambda row: not row.primary)
        user = records.users[user_id]
        orgs = user.orgs + tuple(row.org for row in rows if row.org is not None)
        records.users[user_id] = replace(user, role=rows[0].role, orgs=orgs)


def build_diary(records: RecordSet, problems: list[Problem], warnings: list[Problem]) -> Diary:
    _org_parents(records, problems)
    schools = {
        org.id: School(org.id, org.name) for org in records.orgs.values() if org.type == _SCHOOL
    }
    people = {
        user.id: person
        for user in records.users.values()
        if (person := _person(user, records, problems)) is not None
    }
    classes = {
        klass.id: _class(klass, records, problems, warnings) for klass in records.classes.values()
    }
    enrollments = (
        _enrollment(enrollment, records, people, problems, warnings)
        for enrollment in records.enrollments.values()
    )
    return Diary(
        schools=schools,
        classes=classes,
        people=people,
        enrollments=frozenset(e for e in enrollments if e is not None),
        guardianships=_guardianships(records, people, problems),
        extensions=_extensions(records),
    )


def _org_parents(records: RecordSet, problems: list[Problem]) -> None:
    """Every ``parentSourcedId`` names an org of the export, and no org is its own ancestor."""
    for org in sorted(records.orgs.values(), key=lambda o: o.id):
        if org.parent is None:
            continue
        if org.parent.target not in records.orgs:
            _dangling(org.parent, "parent org", records, problems)
            continue
        seen = [org.id]
        above = records.orgs.get(org.parent.target)
        while above is not None and above.parent is not None and above.id not in seen:
            seen.append(above.id)
            above = records.orgs.get(above.parent.target)
        if above is not None and above.id in seen:
            circle = " → ".join([*seen[seen.index(above.id) :], above.id])
            problems.append(org.parent.problem(f"org parents go round in a circle: {circle}"))


def _dangling(ref: Ref, kind: str, records: RecordSet, problems: list[Problem]) -> None:
    if ref.target in records.rejected:
        return
    if not records.partial:
        problems.append(ref.problem(f"unknown {kind} {ref.target!r}"))
    elif ref.target in records.deleted:
        problems.append(ref.problem(f"{kind} {ref.target!r} is deleted by this delta"))


def _school_above(org: OrgRecord, records: RecordSet) -> OrgRecord | None:
    """The nearest school up the ``parentSourcedId`` chain (a department's school)."""
    seen = {org.id}
    while org.parent is not None and (above := records.orgs.get(org.parent.target)) is not None:
        if above.type == _SCHOOL:
            return above
        if above.id in seen:
            return None
        seen.add(above.id)
        org = above
    return None


def _person(user: UserRecord, records: RecordSet, problems: list[Problem]) -> Person | None:
    if user.role is None:
        if user.id not in records.rejected and not records.partial:
            problems.append(user.origin.problem("no role in users.csv or roles.csv"))
        return None
    schools: set[SourcedId] = set()
    for ref in user.orgs:
        org = records.orgs.get(ref.target)
        if org is None:
            _dangling(ref, "org", records, problems)
        elif org.type == _SCHOOL:
            schools.add(org.id)
        elif (school := _school_above(org, records)) is not None:
            schools.add(school.id)
    return Person(
        id=user.id,
        role=user.role,
        given_name=user.given_name,
        family_name=user.family_name,
        middle_name=user.middle_name,
        username=user.username,
        phone=user.phone,
        email=user.email,
        school_ids=frozenset(schools),
    )


def _class(
    klass: ClassRecord, records: RecordSet, problems: list[Problem], warnings: list[Problem]
) -> SchoolClass:
    subject = klass.subject
    if klass.course is not None and records.courses is not None:
        course = records.courses.get(klass.course.target)
        if course is None:
            _dangling(klass.course, "course", records, problems)
        subject = subject or (course.subject if course else "")
    school = _class_school(klass.school, records, problems, warnings)
    return SchoolClass(klass.id, klass.title, school, klass.kind, klass.grade, subject)


def _class_school(
    ref: Ref, records: RecordSet, problems: list[Problem], warnings: list[Problem]
) -> SourcedId:
    """The class's school: its org, or the school above a department that owns it."""
    org = records.orgs.get(ref.target)
    if org is None:
        _dangling(ref, "school", records, problems)
        return ref.target
    if org.type == _SCHOOL:
        return org.id
    school = _school_above(org, records)
    if school is None:
        reason = (
            f"org {org.id!r} is a {org.type}, not a school, and no school is above it"
            " (parentSourcedId)"
        )
        problems.append(ref.problem(reason))
        return ref.target
    reason = f"org {org.id!r} is a {org.type}: the class goes to school {school.id!r} above it"
    warnings.append(ref.problem(reason).as_warning())
    return school.id


def _enrollment(
    enrollment: EnrollmentRecord,
    records: RecordSet,
    people: Mapping[SourcedId, Person],
    problems: list[Problem],
    warnings: list[Problem],
) -> Enrollment | None:
    if enrollment.klass.target not in records.classes:
        _dangling(enrollment.klass, "class", records, problems)
    if enrollment.school is not None and enrollment.school.target not in records.orgs:
        _dangling(enrollment.school, "org", records, problems)
    person = people.get(enrollment.person.target)
    if person is None:
        if enrollment.person.target not in records.users:
            _dangling(enrollment.person, "user", records, problems)
        return None
    as_student = enrollment.role is EnrollmentRole.STUDENT
    if as_student != (person.role is Role.STUDENT) or person.role is Role.PARENT:
        place = replace(enrollment.person, column="role")
        reason = (
            f"{person.id!r} is a {person.role}, enrolled as {enrollment.role}: kept in the"
            f" diary; chats and safety follow the role {person.role}"
        )
        warnings.append(place.problem(reason).as_warning())
    return Enrollment(
        enrollment.klass.target, person.id, enrollment.role, enrollment.primary, enrollment.id
    )


def _guardianships(
    records: RecordSet, people: Mapping[SourcedId, Person], problems: list[Problem]
) -> frozenset[Guardianship]:
    """Links from agents (either side may list the other) and from SDS relationships."""
    links: set[Guardianship] = set()
    for user in records.users.values():
        for agent in user.agents:
            link = _link(user.id, agent, people, records, problems)
            if link is not None:
                links.add(link)
    removed: set[Guardianship] = set()
    for record in records.links:
        link = _sds_link(record.guardian, record.student, people, records, problems)
        if link is not None:
            (removed if record.removed else links).add(link)
    return frozenset(links - removed)


def _link(
    user_id: SourcedId,
    agent: Ref,
    people: Mapping[SourcedId, Person],
    records: RecordSet,
    problems: list[Problem],
) -> Guardianship | None:
    user, other = people.get(user_id), people.get(agent.target)
    if other is None:
        if agent.target not in records.users:
            _dangling(agent, "user", records, problems)
        return None
    if user is None or (user.role is Role.STUDENT) == (other.role is Role.STUDENT):
        if user is not None and user.role is Role.STUDENT:
            problems.append(agent.problem(f"a student cannot be the agent of student {user_id!r}"))
        return None
    if user.role is Role.STUDENT:
        return Guardianship(parent_id=other.id, student_id=user.id)
    return Guardianship(parent_id=user.id, student_id=other.id)


def _sds_link(
    guardian: Ref,
    student: Ref,
    people: Mapping[SourcedId, Person],
    records: RecordSet,
    problems: list[Problem],
) -> Guardianship | None:
    found = [people.get(guardian.target), people.get(student.target)]
    for ref, person in zip((guardian, student), found, strict=True):
        if person is None and ref.target not in records.users:
            _dangling(ref, "user", records, problems)
    parent, child = found
    if parent is None or child is None:
        return None
    if child.role is not Role.STUDENT:
        problems.append(student.problem(f"{child.id!r} is a {child.role}, not a student"))
        return None
    if parent.role is Role.STUDENT:
        problems.append(guardian.problem(f"{parent.id!r} is a student, not a guardian"))
        return None
    return Guardianship(parent_id=parent.id, student_id=child.id)


def _extensions(records: RecordSet) -> dict[str, dict[SourcedId, Extras]]:
    """Unknown columns per file; orgs that are not schools are always listed.

    The Diary keeps only schools, yet users may name their district: listing it
    here lets a later delta, merged onto this Diary, still find it.
    """
    extensions: dict[str, dict[SourcedId, Extras]] = {
        ORGS: {
            org.id: dict(org.extras or {})
            for org in records.orgs.values()
            if org.extras or org.type != _SCHOOL
        }
    }
    kept: list[tuple[str, Iterable[tuple[SourcedId, Extras | None]]]] = [
        (USERS, ((user.id, user.extras) for user in records.users.values())),
        (CLASSES, ((klass.id, klass.extras) for klass in records.classes.values())),
        (ENROLLMENTS, ((e.id, e.extras) for e in records.enrollments.values())),
    ]
    for file, pairs in kept:
        extensions[file] = {key: dict(extras) for key, extras in pairs if extras}
    for file, rows in records.extensions.items():
        extensions[file] = {key: dict(extras) for key, extras in rows.items() if extras}
    return {file: rows for file, rows in extensions.items() if rows}
