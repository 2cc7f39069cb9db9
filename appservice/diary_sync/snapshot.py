"""A Diary as plain JSON data, so the last applied roster can be stored.

A delta export only makes sense against the roster it was cut from; the sync
stores ``to_snapshot(diary)`` after applying it and hands
``from_snapshot(stored)`` to ``load_roster(..., base=...)`` next time.

Lists are sorted so equal diaries give byte-equal JSON. Reading is strict
(unknown keys, wrong types, unknown versions are refused): a corrupted store
must not quietly become a smaller school.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    School,
    SchoolClass,
)
from kernel.ids import SourcedId

FORMAT = "parta.diary/1"
_T = TypeVar("_T")


class SnapshotError(ValueError):
    """The stored snapshot is not one this code wrote; permanent."""


def to_snapshot(diary: Diary) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "schools": [{"id": s.id, "name": s.name} for s in _by_id(diary.schools)],
        "classes": [_class_data(k) for k in _by_id(diary.classes)],
        "people": [_person_data(p) for p in _by_id(diary.people)],
        "enrollments": sorted(
            (_enrollment_data(e) for e in diary.enrollments),
            key=lambda e: (e["class"], e["person"], e["role"], e["id"]),
        ),
        "guardianships": sorted(
            ({"parent": g.parent_id, "student": g.student_id} for g in diary.guardianships),
            key=lambda g: (g["student"], g["parent"]),
        ),
        "extensions": {
            file: {key: dict(columns) for key, columns in sorted(rows.items())}
            for file, rows in sorted(diary.extensions.items())
        },
    }


def from_snapshot(data: Mapping[str, Any]) -> Diary:
    _keys(
        data,
        {"format", "schools", "classes", "people", "enrollments", "guardianships", "extensions"},
    )
    if data["format"] != FORMAT:
        raise SnapshotError(f"unknown snapshot format {data['format']!r}, expected {FORMAT}")
    schools = _each(data, "schools", _school)
    classes = _each(data, "classes", _class)
    people = _each(data, "people", _person)
    return Diary(
        schools={s.id: s for s in schools},
        classes={k.id: k for k in classes},
        people={p.id: p for p in people},
        enrollments=frozenset(_each(data, "enrollments", _enrollment)),
        guardianships=frozenset(_each(data, "guardianships", _guardianship)),
        extensions=_extensions(data["extensions"]),
    )


def _by_id(items: Mapping[SourcedId, _T]) -> list[_T]:
    return [items[key] for key in sorted(items)]


def _class_data(klass: SchoolClass) -> dict[str, Any]:
    return {
        "id": klass.id,
        "title": klass.title,
        "school_id": klass.school_id,
        "kind": klass.kind.value,
        "grade": klass.grade,
        "subject": klass.subject,
    }


def _person_data(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "role": person.role.value,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "middle_name": person.middle_name,
        "username": person.username,
        "phone": person.phone,
        "email": person.email,
        "school_ids": sorted(person.school_ids),
    }


def _enrollment_data(enrollment: Enrollment) -> dict[str, Any]:
    return {
        "class": enrollment.class_id,
        "person": enrollment.person_id,
        "role": enrollment.role.value,
        "primary": enrollment.primary,
        "id": enrollment.id,
    }


def _keys(data: object, expected: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != expected:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SnapshotError(f"expected keys {sorted(expected)}, found {found}")
    return data


def _each(data: Mapping[str, Any], key: str, read: Callable[[Any], _T]) -> list[_T]:
    items = data[key]
    if not isinstance(items, list):
        raise SnapshotError(f"{key}: expected a list")
    try:
        return [read(item) for item in items]
    except (ValueError, KeyError, TypeError) as error:
        raise SnapshotError(f"{key}: {error}") from error


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise SnapshotError(f"{key}: expected text, found {type(value).__name__}")
    return value


def _sid(data: Mapping[str, Any], key: str) -> SourcedId:
    return SourcedId(_text(data, key))


def _school(item: Any) -> School:
    data = _keys(item, {"id", "name"})
    return School(_sid(data, "id"), _text(data, "name"))


def _class(item: Any) -> SchoolClass:
    data = _keys(item, {"id", "title", "school_id", "kind", "grade", "subject"})
    return SchoolClass(
        id=_sid(data, "id"),
        title=_text(data, "title"),
        school_id=_sid(data, "school_id"),
        kind=ClassKind(_text(data, "kind")),
        grade=_text(data, "grade"),
        subject=_text(data, "subject"),
    )


def _person(item: Any) -> Person:
    fields = {"given_name", "family_name", "middle_name", "username", "phone", "email"}
    data = _keys(item, {"id", "role", "school_ids", *fields})
    schools = data["school_ids"]
    if not isinstance(schools, list) or not all(isinstance(s, str) for s in schools):
        raise SnapshotError("school_ids: expected a list of text")
    return Person(
        id=_sid(data, "id"),
        role=Role(_text(data, "role")),
        school_ids=frozenset(SourcedId(s) for s in schools),
        **{name: _text(data, name) for name in fields},
    )


def _enrollment(item: Any) -> Enrollment:
    data = _keys(item, {"class", "person", "role", "primary", "id"})
    if not isinstance(data["primary"], bool):
        raise SnapshotError("primary: expected true or false")
    return Enrollment(
        class_id=_sid(data, "class"),
        person_id=_sid(data, "person"),
        role=EnrollmentRole(_text(data, "role")),
        primary=data["primary"],
        id=_sid(data, "id"),
    )


def _guardianship(item: Any) -> Guardianship:
    data = _keys(item, {"parent", "student"})
    return Guardianship(_sid(data, "parent"), _sid(data, "student"))


def _extensions(data: Any) -> dict[str, dict[SourcedId, dict[str, str]]]:
    return {
        file: {SourcedId(key): _columns(columns) for key, columns in _object(rows).items()}
        for file, rows in _object(data).items()
    }


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SnapshotError("extensions: expected an object")
    return value


def _columns(value: Any) -> dict[str, str]:
    columns = _object(value)
    if not all(isinstance(text, str) for text in columns.values()):
        raise SnapshotError("extensions: expected text columns")
    return dict(columns)
