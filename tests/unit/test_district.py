"""A district's one export shared out among servers (appservice/diary_sync/district.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from appservice.diary_sync.district import Claim, DistrictError, assign, part, split
from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import Diary, Guardianship, Person, Role
from appservice.diary_sync.state import leavers
from kernel.config import ConfigError, load_config
from kernel.ids import SourcedId
from synthetic.district import generate_district
from tests.school import small_school

A, B, C = SourcedId("a-org"), SourcedId("b-org"), SourcedId("c-org")
SHARED_TEACHER = SourcedId("a-t1")  # class teacher in a, and on staff in b
ROAMING_PARENT = SourcedId("x-p")  # no school of their own: children in a and c
TWO_SCHOOL_PARENT = SourcedId("a-p1")  # a parent of a; a child in b too


def district() -> Diary:
    parts = [small_school(p) for p in ("a", "b", "c")]
    people = {k: v for d in parts for k, v in d.people.items()}
    teacher = people[SHARED_TEACHER]
    people[SHARED_TEACHER] = replace(teacher, school_ids=teacher.school_ids | {B})
    people[ROAMING_PARENT] = Person(ROAMING_PARENT, Role.PARENT, "Ольга", "Странникова")
    links = {g for d in parts for g in d.guardianships}
    links |= {
        Guardianship(ROAMING_PARENT, SourcedId("a-s2")),
        Guardianship(ROAMING_PARENT, SourcedId("c-s6")),
        Guardianship(TWO_SCHOOL_PARENT, SourcedId("b-s5")),
    }
    return Diary(
        schools={k: v for d in parts for k, v in d.schools.items()},
        classes={k: v for d in parts for k, v in d.classes.items()},
        people=people,
        enrollments=frozenset(e for d in parts for e in d.enrollments),
        guardianships=frozenset(links),
        extensions={"users.csv": {SourcedId("a-s1"): {"x": "1"}, SourcedId("b-s1"): {"x": "2"}}},
    )


def claims(**servers: set[SourcedId]) -> list[Claim]:
    return [Claim(name, frozenset(schools)) for name, schools in servers.items()]


def test_each_server_gets_its_schools_classes_and_people_alone() -> None:
    d = district()
    shares = assign(d, claims(one={A, B}, two={C}), complete=True)
    parts = split(d, shares)
    one, two = parts["one"], parts["two"]
    assert one.schools.keys() == {A, B}
    assert two.schools.keys() == {C}
    assert {c.school_id for c in two.classes.values()} == {C}
    assert all(p.startswith(("a-", "b-", "x-")) for p in one.people)
    assert {p for p in two.people if p.startswith("c-")} == {
        p for p in d.people if p.startswith("c-")
    }
    assert all(e.class_id in two.classes and e.person_id in two.people for e in two.enrollments)
    assert all(g.parent_id in two.people and g.student_id in two.people for g in two.guardianships)
    assert SourcedId("b-s1") not in two.extensions["users.csv"]
    assert one.extensions["users.csv"].keys() == {SourcedId("a-s1"), SourcedId("b-s1")}


def test_a_teacher_of_two_schools_on_two_servers_is_on_both_with_that_school_alone() -> None:
    d = district()
    parts = split(d, assign(d, claims(one={A}, two={B, C}), complete=True))
    assert parts["one"].people[SHARED_TEACHER].school_ids == {A}
    assert parts["two"].people[SHARED_TEACHER].school_ids == {B}
    staff_b = next(
        r
        for layout in layout_diary(parts["two"])
        for r in layout.rooms
        if r.key.endswith("staff")
        if "b-org" in r.key
    )
    assert SHARED_TEACHER in staff_b.members


def test_parents_follow_their_children_to_each_server() -> None:
    d = district()
    parts = split(d, assign(d, claims(one={A}, two={B}, three={C}), complete=True))
    for server, child in (("one", "a-s2"), ("three", "c-s6")):
        assert ROAMING_PARENT in parts[server].people
        assert Guardianship(ROAMING_PARENT, SourcedId(child)) in parts[server].guardianships
    assert ROAMING_PARENT not in parts["two"].people
    # a parent of school a with a child in b is a parent in b's part too, b's rooms include them
    assert TWO_SCHOOL_PARENT in parts["two"].people
    assert parts["two"].people[TWO_SCHOOL_PARENT].school_ids == frozenset()
    rooms = [r for layout in layout_diary(parts["two"]) for r in layout.rooms]
    assert any(TWO_SCHOOL_PARENT in r.members for r in rooms if "parents" in r.key)


def test_the_layout_of_a_part_is_the_layout_of_its_schools_in_the_whole() -> None:
    d = district()
    whole = {layout.school_id: layout for layout in layout_diary(d)}
    parts = split(d, assign(d, claims(one={A, B}, two={C}), complete=True))
    for piece in parts.values():
        for layout in layout_diary(piece):
            assert [(r.key, r.members, r.power) for r in layout.rooms] == [
                (r.key, r.members, r.power) for r in whole[layout.school_id].rooms
            ]


def test_one_shared_server_takes_the_whole_diary_as_is() -> None:
    d = district()
    shares = assign(d, claims(shared=set()), complete=True)
    assert shares == {"shared": frozenset({A, B, C})}
    assert part(d, shares["shared"]) is d


def test_a_school_no_server_names_is_refused_when_the_whole_district_is_synced() -> None:
    d = district()
    with pytest.raises(DistrictError) as refused:
        assign(d, claims(one={A}, two={B}), complete=True)
    assert "c-org" in str(refused.value)
    assert "не назначена" in str(refused.value)
    # one server's own config syncs its schools and leaves the others to their servers
    assert assign(d, claims(one={A}), complete=False) == {"one": frozenset({A})}


def test_a_school_two_servers_claim_or_the_roster_lacks_is_refused() -> None:
    d = district()
    with pytest.raises(DistrictError) as refused:
        assign(d, claims(one={A, B}, two={B, C, SourcedId("zz")}), complete=True)
    problems = refused.value.problems
    assert any("заявили два сервера" in p and "b-org" in p for p in problems)
    assert any("zz" in p and "нет в выгрузке" in p for p in problems)
    with pytest.raises(DistrictError):  # an empty list is every school: it claims b too
        assign(d, claims(one=set(), two={B}), complete=True)


def test_a_school_moved_to_another_server_makes_nobody_a_leaver_on_the_old_one() -> None:
    d = district()
    before = part(d, frozenset({A, B}))  # server one hosted a and b
    after = part(d, frozenset({A}))  # b moved to server two
    assert leavers(before, after) == frozenset()
    # somebody of a who really left is still found
    gone = SourcedId("a-s3")
    smaller = replace(
        d,
        people={p: x for p, x in d.people.items() if p != gone},
        enrollments=frozenset(e for e in d.enrollments if e.person_id != gone),
        guardianships=frozenset(g for g in d.guardianships if g.student_id != gone),
    )
    assert leavers(before, part(smaller, frozenset({A}))) == {gone}
    # and on the new server nobody of b is a leaver of anything
    assert leavers(part(d, frozenset({C})), part(d, frozenset({B, C}))) == frozenset()


def test_a_pupil_moving_to_a_school_on_another_server_leaves_the_old_one() -> None:
    d = district()
    pupil = SourcedId("a-s3")
    moved = replace(
        d,
        people={**d.people, pupil: replace(d.people[pupil], school_ids=frozenset({C}))},
        enrollments=frozenset(e for e in d.enrollments if e.person_id != pupil),
    )
    assert pupil in leavers(part(d, frozenset({A})), part(moved, frozenset({A})))
    assert pupil in part(moved, frozenset({C})).people


def test_a_generated_district_has_distinct_schools_people_and_logins() -> None:
    generated = generate_district(3, 20).diary
    assert sorted(s.name for s in generated.schools.values()) == [
        "МАОУ СОШ № 1",
        "МАОУ СОШ № 2",
        "МАОУ СОШ № 3",
    ]
    logins = [p.username for p in generated.people.values()]
    phones = [p.phone for p in generated.people.values() if p.phone]
    assert len(set(logins)) == len(logins)
    assert len(set(phones)) == len(phones)
    two_schools = [p for p in generated.people.values() if len(p.school_ids) > 1]
    assert len(two_schools) == 2  # a teacher of schools 1–2 and one of 2–3
    parts = split(generated, assign(generated, claims(x={SourcedId("org-02")}), complete=False))
    assert len(parts["x"].schools) == 1
    assert any(p.school_ids == frozenset() for p in parts["x"].people.values())


def test_a_config_lists_the_schools_it_hosts(tmp_path: Path) -> None:
    path = tmp_path / "parta.yaml"
    path.write_text("server_name: a.example\ndistrict: {schools: [org-01, org-02]}\n")
    assert load_config(path).district.schools == ("org-01", "org-02")
    path.write_text("server_name: a.example\ndistrict: {servers: {}}\n")
    with pytest.raises(ConfigError, match=r"district\.servers"):
        load_config(path)
