"""One sync of a school, and linking one person: the reconciliation loop.

::

    diary ─layout─▶ layouts ─resolve(accounts, linked, eager)─▶ desired
                                           store + Synapse ─read─▶ actual
                                  plan(desired, actual) ─guard─▶ actions
                        store.allowed ◀─ desired members (the policy module reads it)
                                     execute(actions) ─▶ Synapse

Linking runs the same loop restricted to the rooms the person belongs in, so
it costs a few rooms' reads, not the whole school's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appservice.diary_sync.layout import RoomKey, SchoolLayout, layout_diary, school_prefix
from appservice.diary_sync.model import Diary, Role
from appservice.diary_sync.names import BY_LANGUAGE, RU, RoomNames
from appservice.diary_sync.plan import Action, Deactivate, Remove, describe, guard, plan
from appservice.diary_sync.rollover import (
    ArchivedRoom,
    adopt,
    archived_rooms,
    graduated,
    room_moves,
    successions,
    with_archive,
)
from appservice.diary_sync.snapshot import from_snapshot, to_snapshot
from appservice.diary_sync.state import Account, Desired, leavers, resolve
from appservice.errors import AppserviceError
from appservice.executor import Executor, Report
from appservice.metrics import observe_sync
from appservice.reader import read_actual
from appservice.store import DIARY_SNAPSHOT, LAST_SYNC, Store
from kernel.config import SchoolConfig
from kernel.ids import ServerName, SourcedId, UserID, escape_localpart, server_of, user_id
from kernel.matrix import MatrixClient
from kernel.matrix.admin import SynapseAdmin

PUPPET_PREFIX = "parta."
DAY_MS = 86_400_000
SNAPSHOT = DIARY_SNAPSHOT
YEAR = "school-year"
"""The rooms a new school year moves and archives, noted before the diary is saved."""
"""The last diary applied: the base of the next delta import, and the policy's source."""


class LinkError(AppserviceError):
    """The person cannot be linked to that account (and why)."""


@dataclass(frozen=True)
class SyncOptions:
    eager: bool = False
    dry_run: bool = False
    force: bool = False
    concurrency: int = 8
    max_removal_share: float = 0.2


@dataclass
class SyncResult:
    actions: list[Action]
    report: Report | None
    timings: dict[str, float] = field(default_factory=dict)
    requests: int = 0


@dataclass
class _Derived:
    diary: Diary | None = None
    layouts: tuple[SchoolLayout, ...] = ()
    puppets: dict[SourcedId, Account] = field(default_factory=dict)


@dataclass(frozen=True)
class SchoolSync:
    client: MatrixClient
    store: Store
    server: ServerName
    bot: UserID
    names: RoomNames = RU
    network: bool = False
    """The school is in a region: add its «Сеть учителей» room (it federates)."""
    admin: SynapseAdmin | None = None
    """The homeserver's admin API: accounts of people who left are switched off with it."""
    retention_ms: int | None = None
    """How long the school's rooms keep messages (``m.room.retention``); ``None``: for good."""
    moderators: frozenset[SourcedId] = frozenset()
    """The school's safeguarding leads: in «Модерация» with the administration."""
    _last: _Derived = field(default_factory=lambda: _Derived(), compare=False, repr=False)
    """What the last diary gave (its layouts, its puppet accounts): a diary is immutable, so
    linking one person after another does not lay the whole school out each time."""

    def puppet_id(self, person: SourcedId) -> UserID:
        return user_id(PUPPET_PREFIX + escape_localpart(person), self.server)

    def accounts_for(self, diary: Diary) -> dict[SourcedId, Account]:
        """Stored accounts, plus a puppet id for everybody who has none yet."""
        known = self.store.accounts()
        puppets = self._of(diary)[1]
        return {pid: known.get(pid) or puppets[pid] for pid in diary.people}

    def desired(
        self, diary: Diary, eager: bool, archive: Mapping[RoomKey, ArchivedRoom] | None = None
    ) -> Desired:
        layouts = with_archive(self._of(diary)[0], archive or {}, self.names)
        accounts = self.accounts_for(diary)
        linked = self.store.linked()
        return resolve(layouts, accounts, linked, eager, self.server, self.retention_ms)

    def _of(self, diary: Diary) -> tuple[tuple[SchoolLayout, ...], dict[SourcedId, Account]]:
        last = self._last
        if last.diary is not diary:
            last.layouts = layout_diary(diary, self.names, self.network, self.moderators)
            last.puppets = {pid: Account(self.puppet_id(pid), True) for pid in diary.people}
            last.diary = diary
        return last.layouts, last.puppets

    async def run(
        self,
        diary: Diary,
        options: SyncOptions,
        only: Callable[[RoomKey], bool] | None = None,
        progress: Callable[[int], None] | None = None,
        on_plan: Callable[[list[Action]], None] | None = None,
        desired: Desired | None = None,
        linking: UserID | None = None,
    ) -> SyncResult:
        try:
            return await self._run(diary, options, only, progress, on_plan, desired, linking)
        except Exception:  # counted, then the caller reports it as before
            observe_sync("school" if only is None else "link", 0, None)
            raise

    async def _run(
        self,
        diary: Diary,
        options: SyncOptions,
        only: Callable[[RoomKey], bool] | None,
        progress: Callable[[int], None] | None,
        on_plan: Callable[[list[Action]], None] | None,
        desired: Desired | None,
        linking: UserID | None = None,
    ) -> SyncResult:
        clock = time.perf_counter
        started, requests_before = clock(), self.client.requests
        stored = self.store.snapshot(SNAPSHOT) if only is None else None
        before = None if stored is None else from_snapshot(stored)
        year = self._year(before, diary) if only is None else _Year({}, {})
        desired = desired or self.desired(diary, options.eager, year.archive)
        rooms = {k: r for k, r in desired.rooms.items() if only is None or only(k)}
        # linking one person switches nobody else's account off: the whole sync does that
        left = self._left(before, diary) if only is None else frozenset()
        desired = Desired(rooms, desired.puppets, desired.invitees, left)
        orphans = self._orphans(diary, desired) if only is None else set()
        keys = rooms.keys() | orphans
        spaces = [k for k, r in rooms.items() if r.spec.is_space]
        actual = await read_actual(
            self.client,
            self.store,
            self.server,
            self.bot,
            keys,
            spaces,
            options.concurrency,
            partial=only is not None,
        )
        actual = adopt(actual, year.moves)
        read_done = clock()
        actions = plan(desired, actual)
        if linking is not None:  # one person's link removes nobody else (the sync does that)
            actions = [a for a in actions if not _removes_another(a, linking)]
        if not options.force:
            # a new school year: moving between grade rooms and teachers is no loss
            staying = (
                frozenset(u for r in desired.rooms.values() for u in r.members)
                if actual.moved
                else frozenset()
            )
            guard(actions, actual, options.max_removal_share, staying=staying)
        result = SyncResult(actions, None, {"read_s": read_done - started})
        if on_plan is not None:
            on_plan(actions)
        if not options.dry_run:
            if only is None:  # the policy module answers from the diary being applied
                self.store.record_leavers(left)  # before the diary that forgets them
                self.store.save_snapshot(YEAR, year.to_json())  # likewise the year's moves
                self.store.save_snapshot(SNAPSHOT, to_snapshot(diary))
            allowed = {k: r.members for k, r in rooms.items()}
            self.store.set_allowed({**dict.fromkeys(orphans, frozenset()), **allowed})
            executor = Executor(
                self.client,
                self.store,
                self.server,
                options.concurrency,
                progress or _ignore,
                closed_space=self.network,
                admin=self.admin,
            )
            result.report = await executor.execute(actions)
        result.timings["total_s"] = clock() - started
        result.requests = self.client.requests - requests_before
        if result.report is not None:
            failed = len(result.report.failed)
            observe_sync("school" if only is None else "link", len(actions), failed)
            if only is None:
                self._remember(result, failed, len(diary.people))
        return result

    def _remember(self, result: SyncResult, failed: int, people: int) -> None:
        failures = [] if result.report is None else result.report.failed
        last = {
            "people": people,
            "finished_s": round(time.time(), 3),
            "actions": len(result.actions),
            "failed": failed,
            "total_s": round(result.timings["total_s"], 3),
            "kinds": dict(summary(result)),
            "problems": [f"{describe(action)}: {error}" for action, error in failures[:20]],
        }
        self.store.save_snapshot(LAST_SYNC, last, changes_diary=False)

    def _year(self, before: Diary | None, diary: Diary) -> _Year:
        """A new school year's moves (5А → 6А) and archive (graduates), with what earlier runs
        noted: a run that stopped after saving the new diary still moves the rooms."""
        noted = _Year.from_json(self.store.snapshot(YEAR))
        carried = successions(before, diary)
        gone = graduated(before, diary, carried)
        archive = archived_rooms(before, diary, gone, self.names)
        known = self.store.room_ids()
        moves = {**noted.moves, **room_moves(before, diary, carried)}
        pending = {new: old for new, old in moves.items() if old in known and new not in known}
        return _Year(pending, {**noted.archive, **archive})

    def _left(self, before: Diary | None, diary: Diary) -> frozenset[UserID]:
        """Registered puppets of people who left: since the last diary, or noted by a run
        that stopped before switching them off. Somebody back in the roster is forgotten."""
        gone = leavers(before, diary)
        stored = self.store.accounts()

        def account(p: SourcedId) -> UserID:
            return (stored.get(p) or Account(self.puppet_id(p), True)).user_id

        users = {account(p) for p in gone}
        current = {account(p) for p in diary.people}
        noted = {u for u, d in self.store.departures().items() if d.deactivated_ms is None}
        registered = self.store.puppets().keys()
        return frozenset(((users & registered) | noted) - current)

    def _orphans(self, diary: Diary, desired: Desired) -> set[RoomKey]:
        """Stored rooms of this diary's schools that the layout no longer has."""
        prefixes = tuple(school_prefix(s) for s in diary.schools)
        return {
            key
            for key in self.store.room_ids()
            if key.startswith(prefixes) and key not in desired.rooms
        }

    async def link(
        self, diary: Diary, person: SourcedId, account: UserID | None, options: SyncOptions
    ) -> SyncResult:
        """Link a diary person to a Matrix account (a new puppet if none) and join their rooms."""
        who = diary.people.get(person)
        if who is None:
            raise LinkError(f"{person}: no such person in the diary")
        chosen = Account(account, False) if account else Account(self.puppet_id(person), True)
        if who.role is Role.STUDENT and server_of(chosen.user_id) != self.server:
            raise LinkError(
                f"{person}: a student's account must live on this school's server ({self.server})"
            )
        self.store.save_accounts({person: chosen}, linked=True)
        desired = self.desired(diary, options.eager)
        theirs = {k for k, r in desired.rooms.items() if chosen.user_id in r.members}
        return await self.run(
            diary, options, only=theirs.__contains__, desired=desired, linking=chosen.user_id
        )


def _removes_another(action: Action, person: UserID) -> bool:
    """A removal or switch-off of somebody else: an eager school's puppets are not linked,
    so one person's link would otherwise take them out of that person's rooms."""
    return isinstance(action, Remove | Deactivate) and action.user_id != person


def school_sync_for(
    config: SchoolConfig, client: MatrixClient, store: Store, admin: SynapseAdmin | None = None
) -> SchoolSync:
    """The school's sync as its config says: one place, so that the command line and the
    appservice's linking plan the same rooms (a link run once un-set the retention)."""
    server = ServerName(config.server_name)
    days = config.retention.school_rooms_days
    return SchoolSync(
        client,
        store,
        server,
        user_id(config.appservice.bot_localpart, server),
        BY_LANGUAGE[config.language],
        network=config.region is not None,
        admin=admin,
        retention_ms=None if days is None else days * DAY_MS,
        moderators=frozenset(SourcedId(p) for p in config.safety.safeguarding_leads),
    )


@dataclass(frozen=True)
class _Year:
    moves: dict[RoomKey, RoomKey]
    """This year's room key → last year's, for rooms not moved yet."""
    archive: dict[RoomKey, ArchivedRoom]
    """Graduated classes' rooms, kept read-only for good (the diary no longer has them)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "moves": dict(self.moves),
            "archive": {k: room.to_json() for k, room in self.archive.items()},
        }

    @classmethod
    def from_json(cls, body: Any) -> _Year:
        if not isinstance(body, dict):
            return cls({}, {})
        moves = {RoomKey(k): RoomKey(v) for k, v in dict(body.get("moves", {})).items()}
        archive = {
            RoomKey(k): ArchivedRoom.from_json(k, v)
            for k, v in dict(body.get("archive", {})).items()
        }
        return cls(moves, archive)


def _ignore(_n: int) -> None:
    return None


def summary(result: SyncResult) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for action in result.actions:
        counts[type(action).__name__] = counts.get(type(action).__name__, 0) + 1
    return counts
