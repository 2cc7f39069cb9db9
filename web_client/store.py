"""The diary's own store: SQLite by default, PostgreSQL by configuration (one schema).

It keeps the roster the sync read (as a snapshot) and the timetable, plus what only
the diary knows: sign-in names and password hashes, sessions, failed sign-ins,
password-reset tokens, distance lessons made in the journal and linked Matrix
accounts. Secrets (session and reset tokens) are stored as SHA-256 digests only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

from appservice.diary_sync.model import Diary
from appservice.diary_sync.snapshot import from_snapshot, to_snapshot
from appservice.diary_sync.timetable import Slot, Timetable
from kernel.db import Migration, create_missing, open_store
from kernel.ids import SourcedId
from kernel.secrets import token_digest
from web_client.link_store import PENDING_LINKS_V4
from web_client.oidc_store import OIDC_TABLES

_meta = sa.MetaData()
snapshots = sa.Table(
    "snapshots",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)
slots = sa.Table(
    "slots",
    _meta,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("class_id", sa.String(255), nullable=False),
    sa.Column("start", sa.String(5), nullable=False),
    sa.Column("end", sa.String(5), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("teacher_id", sa.String(255)),
    sa.Column("room", sa.Text, nullable=False),
    sa.Column("distance", sa.Boolean, nullable=False),
    sa.Column("day", sa.Date),
    sa.Column("weekday", sa.Integer),
)
accounts = sa.Table(
    "accounts",
    _meta,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("login", sa.String(255), nullable=False, unique=True),
    sa.Column("phone", sa.String(32), unique=True),
    sa.Column("email", sa.String(255)),
    sa.Column("password_hash", sa.Text),
    sa.Column("matrix_user_id", sa.String(255), unique=True),
)
sessions = sa.Table(
    "sessions",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(255), nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
failures = sa.Table(
    "login_failures",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(255), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
)
resets = sa.Table(
    "password_resets",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False, default=False),
)
distance = sa.Table(
    "distance_lessons",
    _meta,
    sa.Column("lesson_id", sa.String(255), primary_key=True),
    sa.Column("class_id", sa.String(255), nullable=False),
    sa.Column("starts_at", sa.DateTime, nullable=False, index=True),
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
activations = sa.Table(
    "activation_codes",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(255), nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False, default=False),
)
"""Codes of the access letters (one page per person): single-use, expiring, digests only."""
extra_slots = sa.Table(
    "extra_slots",
    _meta,
    *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in slots.c),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
"""Lessons and consultations a teacher set in the journal beyond the timetable (one-off
slots: ``day`` set, ``weekday`` empty). A sync replaces ``slots``, never these."""

_TABLES_V1 = (snapshots, slots, accounts, sessions, failures, resets, distance)


def _tables_v1(operations: Operations) -> None:
    create_missing(operations, *_TABLES_V1, *OIDC_TABLES)  # one database, both


def _activation_codes(operations: Operations) -> None:
    create_missing(operations, activations)  # a diary that ran 9daa643 made it already


def _extra_slots(operations: Operations) -> None:
    create_missing(operations, extra_slots)


def _pending_links(operations: Operations) -> None:
    create_missing(operations, PENDING_LINKS_V4)


def _pending_link_accounts(operations: Operations) -> None:
    columns = {c["name"] for c in sa.inspect(operations.get_bind()).get_columns("pending_links")}
    if "user_id" not in columns:
        operations.add_column("pending_links", sa.Column("user_id", sa.String(255)))


STORE = "diary"
MIGRATIONS = (
    Migration(1, "the tables of parta 0.1 (made before versions: adopted)", _tables_v1),
    Migration(2, "activation codes of the access letters", _activation_codes),
    Migration(3, "lessons and consultations set in the journal", _extra_slots),
    Migration(4, "links asked for and not yet finished", _pending_links),
    Migration(5, "links of accounts people already had, asked for", _pending_link_accounts),
)
"""Migration 1 creates the tables as defined here and in :mod:`web_client.oidc_store`. When a
later migration changes one, first give migration 1 a frozen copy of it (see :mod:`kernel.db`)."""


@dataclass(frozen=True)
class Account:
    person_id: SourcedId
    login: str
    phone: str | None
    email: str
    password_hash: str | None
    matrix_user_id: str | None


@dataclass(frozen=True)
class DistanceLesson:
    lesson_id: str
    class_id: SourcedId
    starts_at: datetime
    ends_at: datetime
    subject: str
    created_by: SourcedId


def normalize_phone(value: str) -> str | None:
    """``+7 (952) 841-23-74`` and ``89528412374`` are one number: ``+79528412374``."""
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        return f"+7{digits[1:]}"
    return f"+{digits}" if len(digits) >= 10 else None


class DiaryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> DiaryStore:
        """Opened and brought up to the newest schema (:mod:`kernel.db`)."""
        return cls(open_store(url, STORE, MIGRATIONS))

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    # -- the roster ---------------------------------------------------------------

    def load(self, diary: Diary, timetable: Timetable) -> None:
        """Replace the roster and timetable in one transaction; passwords and links stay."""
        with self._engine.begin() as db:
            db.execute(sa.delete(snapshots).where(snapshots.c.name == "diary"))
            body = json.dumps(to_snapshot(diary), ensure_ascii=False)
            db.execute(sa.insert(snapshots).values(name="diary", body=body))
            db.execute(sa.delete(slots))
            if timetable.slots:
                db.execute(sa.insert(slots), [_slot_row(s) for s in timetable.slots])
            self._load_accounts(db, diary)

    def _load_accounts(self, db: Connection, diary: Diary) -> None:
        """Rewrite the sign-in names from the roster, keeping passwords, phones set on
        linking and linked accounts; a login or phone two people share goes to neither."""
        known = {row.person_id: row for row in db.execute(sa.select(accounts))}
        gone = set(known) - set(diary.people)
        if gone:
            db.execute(sa.delete(sessions).where(sessions.c.person_id.in_(gone)))
        db.execute(sa.delete(accounts))
        people = sorted(diary.people.values(), key=lambda p: p.id)
        logins = _unique(p.username.lower() for p in people if p.username)
        phones = _unique(normalize_phone(p.phone) for p in people if p.phone)
        rows = []
        used: set[str] = set()
        for person in people:
            old = known.get(person.id)
            login = person.username if person.username.lower() in logins else person.id
            if login.lower() in used:  # a username equal to somebody's id
                login = f"{person.id}@{len(used)}"
            used.add(login.lower())
            phone = normalize_phone(person.phone) if person.phone else None
            if phone not in phones:
                phone = old.phone if old is not None and old.phone not in phones else None
            rows.append(
                {
                    "person_id": person.id,
                    "login": login,
                    "phone": phone,
                    "email": person.email,
                    "password_hash": old.password_hash if old is not None else None,
                    "matrix_user_id": old.matrix_user_id if old is not None else None,
                }
            )
        if rows:
            db.execute(sa.insert(accounts), rows)

    def diary(self) -> Diary | None:
        with self._engine.connect() as db:
            body = db.scalar(sa.select(snapshots.c.body).where(snapshots.c.name == "diary"))
        return None if body is None else from_snapshot(json.loads(body))

    def timetable(self) -> Timetable:
        """The roster's timetable and the lessons set in the journal beyond it."""
        with self._engine.connect() as db:
            rows = db.execute(sa.select(slots).order_by(slots.c.id)).all()
            extra = db.execute(sa.select(extra_slots).order_by(extra_slots.c.id)).all()
        return Timetable(tuple(_slot_of(row) for row in [*rows, *extra]))

    # -- lessons set in the journal ---------------------------------------------------

    def add_extra_slot(self, slot: Slot, created_by: SourcedId, now: datetime) -> None:
        """A one-off lesson or consultation (``slot.day`` set)."""
        if slot.day is None:
            raise ValueError("a lesson set in the journal has a day")
        row = {**_slot_row(slot), "created_by": created_by, "created_at": now}
        with self._engine.begin() as db:
            db.execute(sa.insert(extra_slots).values(**row))

    def is_extra_slot(self, slot_id: str) -> bool:
        with self._engine.connect() as db:
            found = db.scalar(sa.select(extra_slots.c.id).where(extra_slots.c.id == slot_id))
        return found is not None

    def move_extra_slot(self, slot_id: str, day: date, start: time, end: time) -> bool:
        """Another day or time; the lesson keeps its id's slot (the bot edits its message)."""
        with self._engine.begin() as db:
            done = db.execute(
                sa.update(extra_slots)
                .where(extra_slots.c.id == slot_id)
                .values(day=day, start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))
            )
        return done.rowcount == 1

    def cancel_extra_slot(self, slot_id: str) -> bool:
        """Gone from the week (the bot marks its message cancelled)."""
        with self._engine.begin() as db:
            done = db.execute(sa.delete(extra_slots).where(extra_slots.c.id == slot_id))
        return done.rowcount == 1

    # -- accounts -----------------------------------------------------------------

    def account(self, person_id: SourcedId) -> Account | None:
        return self._account_where(accounts.c.person_id == person_id)

    def find_account(self, name: str) -> Account | None:
        """By login, phone or e-mail: whatever the person typed into «Логин»."""
        name = name.strip()
        if not name or "\0" in name:
            return None
        clauses = [sa.func.lower(accounts.c.login) == name.lower()]
        phone = normalize_phone(name) if any(c.isdigit() for c in name) else None
        if phone:
            clauses.append(accounts.c.phone == phone)
        if "@" in name:
            clauses.append(sa.func.lower(accounts.c.email) == name.lower())
        clause = sa.or_(*clauses)
        return self._account_where(clause)

    def account_of_matrix_user(self, user_id: str) -> Account | None:
        return self._account_where(accounts.c.matrix_user_id == user_id)

    def _account_where(self, clause: sa.ColumnElement[bool]) -> Account | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(accounts).where(clause).limit(2)).all()
        if len(row) != 1:
            return None
        r = row[0]
        return Account(
            SourcedId(r.person_id), r.login, r.phone, r.email, r.password_hash, r.matrix_user_id
        )

    def set_password_hash(self, person_id: SourcedId, password_hash: str) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.update(accounts)
                .where(accounts.c.person_id == person_id)
                .values(password_hash=password_hash)
            )

    def replace_password(self, person_id: SourcedId, password_hash: str) -> None:
        """A new password (a reset link, an access letter, the operator): the person's
        sessions end and every outstanding reset link stops working, in one transaction."""
        with self._engine.begin() as db:
            db.execute(
                sa.update(accounts)
                .where(accounts.c.person_id == person_id)
                .values(password_hash=password_hash)
            )
            db.execute(sa.delete(sessions).where(sessions.c.person_id == person_id))
            db.execute(
                sa.update(resets)
                .where(resets.c.person_id == person_id, resets.c.used.is_(False))
                .values(used=True)
            )

    def set_phone(self, person_id: SourcedId, phone: str) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.update(accounts).where(accounts.c.person_id == person_id).values(phone=phone)
            )

    def set_matrix_user(self, person_id: SourcedId, user_id: str) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.update(accounts)
                .where(accounts.c.person_id == person_id)
                .values(matrix_user_id=user_id)
            )

    # -- sessions -----------------------------------------------------------------

    def add_session(self, token: str, person_id: SourcedId, expires_at: datetime) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.insert(sessions).values(
                    digest=token_digest(token), person_id=person_id, expires_at=expires_at
                )
            )

    def session_person(self, token: str, now: datetime) -> SourcedId | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(sessions.c.person_id).where(
                    sessions.c.digest == token_digest(token), sessions.c.expires_at > now
                )
            ).first()
        return None if row is None else SourcedId(row.person_id)

    def drop_session(self, token: str) -> None:
        with self._engine.begin() as db:
            db.execute(sa.delete(sessions).where(sessions.c.digest == token_digest(token)))

    # -- failed sign-ins and reset mails (the rate limits: web_client.throttle) ------

    def note_failure(self, keys: Iterable[str], at: datetime) -> None:
        with self._engine.begin() as db:
            db.execute(sa.insert(failures), [{"key": key, "at": at} for key in keys])

    def failure_tally(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """How many events of ``key`` since ``since``, and the latest of them."""
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(sa.func.count(), sa.func.max(failures.c.at)).where(
                    failures.c.key == key, failures.c.at > since
                )
            ).one()
        return int(row[0]), row[1]

    def clear_failures(self, key: str) -> None:
        with self._engine.begin() as db:
            db.execute(sa.delete(failures).where(failures.c.key == key))

    # -- password resets -----------------------------------------------------------

    def add_reset(self, token: str, person_id: SourcedId, expires_at: datetime) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.insert(resets).values(
                    digest=token_digest(token),
                    person_id=person_id,
                    expires_at=expires_at,
                    used=False,
                )
            )

    def reset_person(self, token: str) -> tuple[SourcedId, datetime, bool] | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(resets).where(resets.c.digest == token_digest(token))
            ).first()
        return None if row is None else (SourcedId(row.person_id), row.expires_at, row.used)

    def use_reset(self, token: str) -> bool:
        """Mark the token used; False when it already was (two tabs, one token)."""
        with self._engine.begin() as db:
            result = db.execute(
                sa.update(resets)
                .where(resets.c.digest == token_digest(token), resets.c.used.is_(False))
                .values(used=True)
            )
        return result.rowcount == 1

    # -- access letters -----------------------------------------------------------------

    def add_activation(self, code: str, person_id: SourcedId, expires_at: datetime) -> None:
        """A new letter's code; the person's earlier unused codes stop working."""
        with self._engine.begin() as db:
            db.execute(
                sa.update(activations)
                .where(activations.c.person_id == person_id, activations.c.used.is_(False))
                .values(used=True)
            )
            row = {"digest": token_digest(code), "person_id": person_id, "expires_at": expires_at}
            db.execute(sa.insert(activations).values(**row, used=False))

    def activation(self, code: str) -> tuple[SourcedId, datetime, bool] | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(activations).where(activations.c.digest == token_digest(code))
            ).first()
        return None if row is None else (SourcedId(row.person_id), row.expires_at, row.used)

    def use_activation(self, code: str) -> bool:
        """Mark the code used; False when it already was."""
        with self._engine.begin() as db:
            done = db.execute(
                sa.update(activations)
                .where(activations.c.digest == token_digest(code), activations.c.used.is_(False))
                .values(used=True)
            )
        return done.rowcount == 1

    # -- distance lessons ------------------------------------------------------------

    def add_distance_lesson(self, lesson: DistanceLesson, now: datetime) -> bool:
        """Idempotent: False when the lesson already was a distance lesson."""
        with self._engine.begin() as db:
            exists = db.scalar(
                sa.select(distance.c.lesson_id).where(distance.c.lesson_id == lesson.lesson_id)
            )
            if exists is not None:
                return False
            db.execute(
                sa.insert(distance).values(
                    lesson_id=lesson.lesson_id,
                    class_id=lesson.class_id,
                    starts_at=lesson.starts_at,
                    ends_at=lesson.ends_at,
                    subject=lesson.subject,
                    created_by=lesson.created_by,
                    created_at=now,
                )
            )
        return True

    def move_distance_lesson(self, lesson_id: str, starts_at: datetime, ends_at: datetime) -> bool:
        """A journal-made lesson at another time (the bot edits its message)."""
        with self._engine.begin() as db:
            done = db.execute(
                sa.update(distance)
                .where(distance.c.lesson_id == lesson_id)
                .values(starts_at=starts_at, ends_at=ends_at)
            )
        return done.rowcount == 1

    def cancel_distance_lesson(self, lesson_id: str) -> bool:
        """No longer a distance lesson (the bot marks its message cancelled)."""
        with self._engine.begin() as db:
            done = db.execute(sa.delete(distance).where(distance.c.lesson_id == lesson_id))
        return done.rowcount == 1

    def distance_lessons(self, since: datetime, until: datetime) -> list[DistanceLesson]:
        with self._engine.connect() as db:
            rows = db.execute(
                sa.select(distance)
                .where(distance.c.starts_at >= since, distance.c.starts_at < until)
                .order_by(distance.c.starts_at, distance.c.lesson_id)
            ).all()
        return [
            DistanceLesson(
                r.lesson_id,
                SourcedId(r.class_id),
                r.starts_at,
                r.ends_at,
                r.subject,
                SourcedId(r.created_by),
            )
            for r in rows
        ]

    def distance_lesson_ids(self, first: date, days: int) -> set[str]:
        since = datetime.combine(first, time.min)
        return {d.lesson_id for d in self.distance_lessons(since, since + timedelta(days=days))}


def _unique(values: Iterable[str | None]) -> set[str]:
    """The values that occur exactly once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for value in values:
        if value is not None:
            (twice if value in seen else seen).add(value)
    return seen - twice


def _slot_row(slot: Slot) -> dict[str, object]:
    return {
        "id": slot.id,
        "class_id": slot.class_id,
        "start": slot.start.strftime("%H:%M"),
        "end": slot.end.strftime("%H:%M"),
        "subject": slot.subject,
        "teacher_id": slot.teacher_id,
        "room": slot.room,
        "distance": slot.distance,
        "day": slot.day,
        "weekday": slot.weekday,
    }


def _slot_of(row: sa.Row[tuple[object, ...]]) -> Slot:
    m = row._mapping
    return Slot(
        SourcedId(str(m["id"])),
        SourcedId(str(m["class_id"])),
        time.fromisoformat(str(m["start"])),
        time.fromisoformat(str(m["end"])),
        str(m["subject"]),
        SourcedId(str(m["teacher_id"])) if m["teacher_id"] else None,
        str(m["room"]),
        bool(m["distance"]),
        m["day"] if isinstance(m["day"], date) else None,
        int(str(m["weekday"])) if m["weekday"] is not None else None,
    )
