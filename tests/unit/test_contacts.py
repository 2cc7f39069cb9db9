"""«Контакты»: who may write to whom follows safe mode; support falls back to an administrator."""

from __future__ import annotations

from appservice.diary_sync.names import RU
from kernel.config import OperatorConfig, SupportConfig
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.contacts import (
    NO_OPERATOR_TEXT,
    OPERATOR_TEXT,
    Support,
    contacts_of,
    support_contact,
)

DIARY = small_school("c")


def sid(local: str) -> SourcedId:
    return SourcedId(f"c-{local}")


def linked(person: SourcedId) -> str | None:
    return None if person == sid("s3") else f"@{person}:school"


def names_for(local: str) -> set[str]:
    me = DIARY.people[sid(local)]
    return {c.person_id.removeprefix("c-") for c in contacts_of(DIARY, me, RU, linked)}


def test_a_student_reaches_staff_classmates_and_own_parent_only() -> None:
    found = names_for("s1")
    assert {"s2", "s3", "t1", "t4", "p1"} <= found
    assert "p2" not in found  # a classmate's parent
    assert "s4" not in found  # another class
    assert "s1" not in found


def test_a_parent_reaches_the_teachers_and_own_child_but_not_other_children() -> None:
    found = names_for("p2")  # s2 in 5А and s4 in 5Б
    assert {"s2", "s4", "t1", "t2"} <= found
    assert "s1" not in found
    assert "s3" not in found
    assert "p1" in found  # parents share the class parents' chat


def test_contacts_come_with_roles_staff_first_and_unlinked_people_without_an_account() -> None:
    me = DIARY.people[sid("s1")]
    found = contacts_of(DIARY, me, RU, linked)
    roles = [c.role for c in found]
    assert roles.index("учитель") < roles.index("ученик")
    unlinked = next(c for c in found if c.person_id == sid("s3"))
    assert unlinked.user_id is None
    assert next(c for c in found if c.person_id == sid("t1")).user_id == "@c-t1:school"


def test_english_role_words() -> None:
    me = DIARY.people[sid("s1")]
    assert {c.role for c in contacts_of(DIARY, me, RU, linked, "en")} >= {"teacher", "student"}


def test_support_is_the_configured_account_or_the_first_linked_administrator() -> None:
    configured = SupportConfig(user_id="@help:school", email="help@school.test")
    assert support_contact(DIARY, sid("s1"), configured, linked) == Support(
        "@help:school", "", email="help@school.test"
    )
    found = support_contact(DIARY, sid("s1"), SupportConfig(), linked)
    assert (found.user_id, found.name) == ("@c-a1:school", "Директорова Ольга")
    assert support_contact(DIARY, sid("s1"), SupportConfig(), lambda _p: None).user_id is None


def test_the_administration_is_sent_on_to_the_regions_operator() -> None:
    alone = support_contact(DIARY, sid("a1"), SupportConfig(), linked)
    assert alone.user_id is None  # never «Написать» to herself
    assert alone.text == NO_OPERATOR_TEXT
    operator = OperatorConfig(name="Оператор региона", user_id="@op:region", phone="+7 800")
    config = SupportConfig(operator=operator)
    found = support_contact(DIARY, sid("a1"), config, linked)
    assert found == Support("@op:region", "Оператор региона", OPERATOR_TEXT, "", "+7 800")
    # a teacher named as the school's support is sent on too
    teacher = SupportConfig(user_id="@c-t1:school", operator=operator)
    assert support_contact(DIARY, sid("t1"), teacher, linked).user_id == "@op:region"
    assert support_contact(DIARY, sid("s1"), teacher, linked).user_id == "@c-t1:school"


def _grouped(local: str) -> list[tuple[str, str, str]]:
    me = DIARY.people[sid(local)]
    return [
        (c.group.value, c.person_id.removeprefix("c-"), c.detail)
        for c in contacts_of(DIARY, me, RU, linked)
    ]


def test_a_parent_sees_her_children_first_then_their_class_teachers() -> None:
    found = _grouped("p2")  # s2 in 5А, s4 in 5Б
    assert found[:2] == [("children", "s2", "5А"), ("children", "s4", "5Б")]
    assert found[2:4] == [("class_teachers", "t1", "5А"), ("class_teachers", "t2", "5Б")]
    assert ("classmates_parents", "p1", "Иван (5А)") in found


def test_a_student_s_classmates_come_after_staff_the_unlinked_last_in_a_group() -> None:
    found = _grouped("s1")
    assert found[0] == ("parents", "p1", "")
    assert found[1] == ("class_teachers", "t1", "5А")
    classmates = [who for group, who, _ in found if group == "classmates"]
    assert classmates == ["s2", "s3"]  # s3 has not linked: last
    assert [g for g, _, _ in found].index("classmates") > [g for g, _, _ in found].index(
        "administration"
    )


def test_staff_see_students_and_parents_with_their_classes() -> None:
    found = _grouped("t1")
    groups = [g for g, _, _ in found]
    assert groups.index("teachers") < groups.index("students") < groups.index("students_parents")
    assert ("students_parents", "p2", "Иван (5А), Иван (5Б)") in found
    assert "class_teachers" not in groups  # colleagues are colleagues
