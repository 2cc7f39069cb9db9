"""Access letters: one printed page per person with a login and a one-time code (A1, A5).

Russian schools hand out diary access on paper: most parents and every pupil have no e-mail
in the roster, so «Забыли пароль?» cannot reach them. A letter carries the school, the
person, their login, a code that works once (``diary.activation_days``) and a QR code to
the activation page, where they choose their own password. Printing a new letter voids the
person's earlier code. A parent's letter names their children too::

    people ──Auth.new_activation──▶ codes (digests stored) ──▶ Letter ──fpdf2──▶ PDF bytes
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    EnrollmentRole,
    Person,
    Role,
    SchoolClass,
)
from kernel.ids import SourcedId
from web_client.auth import Auth, shown_code
from web_client.store import DiaryStore

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
"""Debian's fonts-dejavu-core (installed by `make` and by Ansible): Cyrillic letters."""
BOLD = FONT.with_name("DejaVuSans-Bold.ttf")


class LetterError(Exception):
    """Letters cannot be made here (the font is missing, say); the reason says what to do."""


@dataclass(frozen=True)
class Letter:
    school: str
    name: str
    role: str
    """«ученик», «родитель», «учитель»… — as the letter greets the person."""
    login: str
    code: str
    url: str
    """The activation page with the code: what the QR code opens."""
    children: tuple[str, ...] = ()


def letters_pdf(letters: Sequence[Letter], diary_url: str) -> bytes:
    if not FONT.exists() or not BOLD.exists():
        raise LetterError(f"{FONT}: no such font (Debian: apt-get install fonts-dejavu-core)")
    pdf = FPDF(format="A4")
    pdf.set_title("Доступ к электронному дневнику")
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.set_auto_page_break(auto=False)
    for letter in letters:
        _page(pdf, letter, diary_url)
    return bytes(pdf.output())


def _page(pdf: FPDF, letter: Letter, diary_url: str) -> None:
    pdf.add_page()
    pdf.set_font("DejaVu", "", 12)
    pdf.cell(0, 8, letter.school, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, "Доступ к электронному дневнику и чатам школы", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "", 13)
    pdf.multi_cell(0, 7, f"{letter.name} ({letter.role})", new_x="LMARGIN", new_y="NEXT")
    if letter.children:
        pdf.multi_cell(0, 7, "Дети: " + ", ".join(letter.children), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("DejaVu", "", 12)
    pdf.cell(0, 8, f"Адрес дневника: {diary_url}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, f"Логин: {letter.login}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(
        0, 12, f"Код для первого входа: {shown_code(letter.code)}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("DejaVu", "", 11)
    steps = (
        "Откройте в браузере «Первый вход по коду из письма школы» на странице входа "
        "дневника или наведите камеру телефона на QR-код, введите код и придумайте пароль. "
        "Код действует один раз. Если письмо потерялось или код не подходит, попросите в "
        "школе новое письмо: прежний код тогда перестанет работать."
    )
    pdf.ln(2)
    pdf.multi_cell(0, 6, steps, new_x="LMARGIN", new_y="NEXT")
    qr = io.BytesIO()
    segno.make(letter.url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    pdf.image(qr, x=pdf.l_margin, y=pdf.get_y() + 6, w=55)


ROLE_WORDS = {"student": "ученик", "parent": "родитель", "teacher": "учитель",
              "administrator": "администрация"}  # fmt: skip


def people_of_class(diary: Diary, title: str) -> list[SourcedId]:
    """A homeroom's pupils (by its title, «5А», or its id) and then their parents."""
    classes = [
        c for c in diary.classes.values()
        if c.kind is ClassKind.HOMEROOM and title in (c.title, c.id)
    ]  # fmt: skip
    if not classes:
        raise LetterError(f"{title}: no such class in the diary")
    ids = {c.id for c in classes}
    pupils = sorted(
        {
            e.person_id
            for e in diary.enrollments
            if e.class_id in ids and e.role is EnrollmentRole.STUDENT
        }
    )
    parents = sorted({g.parent_id for g in diary.guardianships if g.student_id in pupils})
    return [*pupils, *parents]


def make_letters(
    diary: Diary, store: DiaryStore, auth: Auth, people: Sequence[SourcedId], diary_url: str
) -> list[Letter]:
    """A fresh code for each person (their earlier one stops working), as letters."""
    school = ", ".join(sorted(s.name for s in diary.schools.values()))
    found = []
    for pid in people:
        person, account = diary.people.get(pid), store.account(pid)
        if person is None or account is None:
            raise LetterError(f"{pid}: no such person in the diary")
        code = auth.new_activation(pid)
        children = tuple(
            diary.people[g.student_id].display_name
            for g in sorted(diary.guardianships, key=lambda g: g.student_id)
            if g.parent_id == pid and g.student_id in diary.people
        )
        found.append(
            Letter(
                school,
                person.display_name,
                ROLE_WORDS.get(person.role.value, person.role.value),
                account.login,
                code,
                f"{diary_url}/activate/{code}",
                children,
            )
        )
    return found


def classes_for(diary: Diary, me: Person) -> list[SchoolClass]:
    """Whose letters a member of staff may print: the administration, every class of their
    school; a class teacher, their own class; other teachers, none."""
    homerooms = [c for c in diary.classes.values() if c.kind is ClassKind.HOMEROOM]
    if me.role is Role.ADMINISTRATOR:
        mine = [c for c in homerooms if not me.school_ids or c.school_id in me.school_ids]
    else:
        led = {
            e.class_id
            for e in diary.enrollments
            if e.person_id == me.id and e.primary and e.role is not EnrollmentRole.STUDENT
        }
        mine = [c for c in homerooms if c.id in led]
    return sorted(mine, key=lambda c: (len(c.title), c.title))
