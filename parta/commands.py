"""What each ``parta`` sub-command does; argument parsing lives in :mod:`parta.cli`.

Every command returns an exit code and prints problems as one clear line each,
never a traceback: 0 done, 1 refused (bad roster, destructive plan), 2 bad
configuration or environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from tqdm import tqdm

from appservice.diary_sync.district import Claim, DistrictError, assign, part, part_timetable
from appservice.diary_sync.model import Diary
from appservice.diary_sync.plan import Action, DestructivePlanError, describe
from appservice.diary_sync.roster import Problem, RosterError, load_roster
from appservice.diary_sync.snapshot import from_snapshot
from appservice.diary_sync.state import Account
from appservice.diary_sync.timetable import Timetable
from appservice.erasure import erase_due
from appservice.errors import SYNC_FAILURES
from appservice.executor import NotTried
from appservice.school_sync import SNAPSHOT, SyncOptions, SyncResult, summary
from appservice.store import Store
from homeserver.errors import HomeserverError
from kernel.children import wait_for_signal
from kernel.config import ConfigError, SchoolConfig, load_config
from kernel.db import StoreError
from kernel.ids import SourcedId, UserID
from kernel.matrix import MatrixFailure
from kernel.matrix.admin import SynapseAdmin
from kernel.secrets import SecretError, ensure_secret_file
from parta.diary_load import read_timetable, store_diary
from parta.stack import SchoolStack
from synthetic.district import generate_district
from synthetic.school import generate_school, write_oneroster, write_sds
from synthetic.school_year import BASE_YEAR, generate_school_year
from web_client.auth import MIN_PASSWORD
from web_client.errors import DiaryError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> int:
    print(f"parta: {message}", file=sys.stderr)
    return code


def school_generate(args: argparse.Namespace) -> int:
    if args.schools < 1:
        return _fail("--schools: at least one school", 2)
    if args.schools > 1:
        if args.year is not None:
            return _fail("--year: a district is generated for the first year only", 2)
        district = generate_district(args.schools, args.students, seed=args.seed)
        sds = args.format == "sds"
        (write_sds if sds else write_oneroster)(district, args.out)
        print(
            f"Округ записан в {args.out}: школ {len(district.diary.schools)}, "
            f"людей {len(district.diary.people)} "
            f"({'Microsoft SDS v2.1 CSV' if sds else 'OneRoster 1.2 CSV'})"
        )
        return 0
    if args.year is None:
        school = generate_school(args.students, seed=args.seed)
    elif args.year < BASE_YEAR:
        return _fail(f"--year: the synthetic school starts in {BASE_YEAR}", 2)
    else:
        school = generate_school_year(args.students, args.year, seed=args.seed)
    if args.format == "sds":
        write_sds(school, args.out)
        print(f"Школа записана в {args.out} (Microsoft SDS v2.1 CSV)")
        return 0
    write_oneroster(school, args.out)
    print(f"Школа записана в {args.out} (OneRoster 1.2 CSV)")
    return 0


def load_school_roster(source: Path, store: Store | None, strict: bool = False) -> Diary:
    """A bulk roster stands alone; a delta is applied to the last diary synced (``store``'s;
    a district's export, shared out among servers, is read without one: bulk only).

    Warnings go to stderr like problems; ``strict`` makes them refuse the roster.
    """
    stored = None if store is None else store.snapshot(SNAPSHOT)
    base = from_snapshot(stored) if stored is not None else None
    warnings: list[Problem] = []
    diary = load_roster(source, base=base, warnings=warnings)
    if strict and warnings:
        raise RosterError(w.as_error() for w in warnings)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return diary


SYNC_OUTAGE_S = 60.0
"""A sync waits this long for a homeserver that stopped answering (a restart takes seconds),
then gives up on the rest of its steps and says so."""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def sync(args: argparse.Namespace) -> int:
    paths: list[Path] = args.config or [Path("parta.yaml")]
    try:
        configs = [load_config(path) for path in paths]
    except ConfigError as e:
        return _fail(str(e), 2)
    if len(configs) > 1 or configs[0].district.schools:
        return _district_sync(args, list(zip(paths, configs, strict=True)))
    config, path = configs[0], paths[0]
    options = _options(args, config)
    stack = SchoolStack(config, path)
    try:
        store = _started_store(stack)
    except SYNC_FAILURES as e:
        return _fail(f"{e} (has this school been started with `parta run`?)", 2)
    try:
        diary = load_school_roster(args.source, store, args.strict)
        timetable = read_timetable(args.source, diary)
        result = _run(_sync(stack, store, diary, options))
        if not options.dry_run:
            _store_diary(stack, diary, timetable)
    except RosterError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return _fail(f"{args.source}: the roster has problems; nothing was changed")
    except (DestructivePlanError, *SYNC_FAILURES, SecretError, DiaryError) as e:
        return _fail(str(e))
    finally:
        store.close()
    _print_result(result, args.json, args.dry_run)
    return _failures(result)


def _options(args: argparse.Namespace, config: SchoolConfig) -> SyncOptions:
    return SyncOptions(
        eager=args.eager or config.sync.eager,
        dry_run=args.dry_run,
        force=args.force,
        concurrency=config.sync.concurrency,
        max_removal_share=config.sync.max_removal_share,
    )


def _store_diary(stack: SchoolStack, diary: Diary, timetable: Timetable | None) -> None:
    diary_store = stack.open_diary_store()
    try:
        store_diary(diary_store, diary, timetable)
    finally:
        diary_store.close()


def _district_sync(args: argparse.Namespace, configs: list[tuple[Path, SchoolConfig]]) -> int:
    """One export, several servers: loaded and checked once, shared out by each config's
    ``district.schools``, then each server synced in turn. Every refusal (the roster, the
    share, a server never started) comes before anything is changed. Several configs must
    place every school of the export; one config with a list syncs its own schools."""
    stacks = [SchoolStack(config, path) for path, config in configs]
    stores: list[Store] = []
    try:
        try:
            for stack in stacks:
                stores.append(_started_store(stack))
        except SYNC_FAILURES as e:
            return _fail(f"{e} (has this school been started with `parta run`?)", 2)
        try:
            diary = load_school_roster(args.source, None, args.strict)
            timetable = read_timetable(args.source, diary)
            claims = [
                Claim(c.server_name, frozenset(SourcedId(s) for s in c.district.schools))
                for _p, c in configs
            ]
            shares = assign(diary, claims, complete=len(configs) > 1)
        except RosterError as e:
            for problem in e.problems:
                print(problem, file=sys.stderr)
            return _fail(f"{args.source}: the roster has problems; nothing was changed")
        except DistrictError as e:
            for line in e.problems:
                print(f"parta: {line}", file=sys.stderr)
            return _fail("the district's schools are not shared out; nothing was changed", 2)
        skipped = len(diary.schools) - sum(len(s) for s in shares.values())
        results: dict[str, SyncResult] = {}
        for stack, store in zip(stacks, stores, strict=True):
            server = stack.config.server_name
            mine = part(diary, shares[server])
            try:
                results[server] = _run(_sync(stack, store, mine, _options(args, stack.config)))
                if not args.dry_run:
                    tt = None if timetable is None else part_timetable(timetable, mine)
                    _store_diary(stack, mine, tt)
            except (DestructivePlanError, *SYNC_FAILURES, SecretError, DiaryError) as e:
                done = ", ".join(results) or "ни одного (none)"
                return _fail(f"{server}: {e} (уже синхронизированы (synced already): {done})")
            if not args.json:
                names = ", ".join(sorted(diary.schools[s].name for s in shares[server]))
                print(f"Сервер {server} — школ: {len(shares[server])} ({names})")
                _print_result(results[server], False, args.dry_run)
    finally:
        for store in stores:
            store.close()
    _print_district(results, skipped, args.json, args.dry_run)
    return max((_failures(r) for r in results.values()), default=0)


def _print_district(
    results: dict[str, SyncResult], skipped: int, as_json: bool, dry_run: bool
) -> None:
    writes = sum(0 if r.report is None else r.report.writes for r in results.values())
    failed = sum(0 if r.report is None else len(r.report.failed) for r in results.values())
    seconds = sum(r.timings.get("total_s", 0.0) for r in results.values())
    actions = sum(len(r.actions) for r in results.values())
    if as_json:
        body = {
            "dry_run": dry_run,
            "servers": {
                server: {
                    "actions": summary(r),
                    "writes": 0 if r.report is None else r.report.writes,
                    "failed": 0 if r.report is None else len(r.report.failed),
                    "timings": r.timings,
                }
                for server, r in results.items()
            },
            "total": {"actions": actions, "writes": writes, "failed": failed, "total_s": seconds},
            "skipped_schools": skipped,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    print(
        f"Итого (total): серверов {len(results)}, действий {actions}, "
        f"записей {writes}, время {seconds:.2f} с"
    )
    if skipped:
        print(f"Школ других серверов пропущено (other servers' schools skipped): {skipped}")


def _started_store(stack: SchoolStack) -> Store:
    """The state store of a school that has run; a school never started has no secrets yet,
    and its store is not made here (a dry run writes nothing)."""
    if not stack.config.as_token_file.exists():
        raise StoreError(f"{stack.config.as_token_file}: no such file")
    return stack.open_store()


def _failures(result: SyncResult) -> int:
    """Print what was refused; exit 1 so scripts notice (a re-run retries it)."""
    report = result.report
    failed = [] if report is None else report.failed
    tried = [(a, e) for a, e in failed if not isinstance(e, NotTried)]
    for action, error in tried:
        print(f"не выполнено (failed): {describe(action)}: {error}", file=sys.stderr)
    if report is not None and report.gone is not None:
        left = len(failed) - len(tried)
        print(
            f"Сервер Matrix перестал отвечать ({report.gone}); шагов не выполнено: {left}. "
            "Запустите синхронизацию ещё раз, когда сервер заработает "
            "(the homeserver stopped answering: run the sync again once it is back).",
            file=sys.stderr,
        )
    return 1 if failed else 0


async def _sync(stack: SchoolStack, store: Store, diary: Diary, options: SyncOptions) -> SyncResult:
    client = stack.client(outage_s=SYNC_OUTAGE_S)
    admin = None if options.dry_run else await _admin(stack)
    try:
        school = stack.school_sync(client, store, admin)
        with tqdm(unit="шаг", disable=None, leave=False) as bar:

            def planned(actions: list[Action]) -> None:
                bar.total = len(actions)
                bar.refresh()

            def advance(n: int) -> None:
                bar.update(n)

            result = await school.run(diary, options, progress=advance, on_plan=planned)
        region = stack.region_sync(client, store)
        if region is not None and not options.dry_run:
            report = await region.run(diary)
            result.timings["region_links"] = float(report.linked)
        if admin is not None and not options.dry_run:
            now = int(time.time() * 1000)
            erased = await erase_due(admin, store, stack.config.retention, now)
            result.timings["erased"] = float(len(erased))
        return result
    finally:
        await client.aclose()
        if admin is not None:
            await admin.client.aclose()


async def _admin(stack: SchoolStack) -> SynapseAdmin | None:
    """Without it the sync still runs; switching off the accounts of people who left is
    then reported as not done (exit 1) and the next run tries again."""
    try:
        return await stack.admin()
    except (MatrixFailure, httpx.HTTPError, SecretError, OSError) as e:
        log.warning("no admin access to the homeserver: %s", e)
        return None


def _print_result(result: SyncResult, as_json: bool, dry_run: bool) -> None:
    counts = summary(result)
    if as_json:
        body = {
            "dry_run": dry_run,
            "actions": counts,
            "writes": 0 if result.report is None else result.report.writes,
            "failed": 0 if result.report is None else len(result.report.failed),
            "timings": result.timings,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    if dry_run:
        for action in result.actions:
            print(f"  {describe(action)}")
    print("План пуст: всё уже совпадает с дневником." if not counts else "Действия:")
    for name, n in sorted(counts.items()):
        print(f"  {name}: {n}")
    print(f"Время: {result.timings.get('total_s', 0.0):.2f} с")


def people_link(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    stack = SchoolStack(config, args.config)
    try:
        store = _started_store(stack)
    except SYNC_FAILURES as e:
        return _fail(f"{e} (has this school been started with `parta run`?)", 2)
    try:
        stored = store.snapshot(SNAPSHOT)
        if stored is None:
            return _fail("no diary synced yet: run `parta sync` first")
        diary = from_snapshot(stored)
        account = UserID(args.user_id) if args.user_id else None
        result = _run(_link(stack, store, diary, SourcedId(args.person), account))
        _tell_the_diary(stack, SourcedId(args.person), store.accounts()[SourcedId(args.person)])
    except (*SYNC_FAILURES, SecretError, DiaryError) as e:
        return _fail(str(e))
    finally:
        store.close()
    _print_result(result, False, False)
    return _failures(result)


def _tell_the_diary(stack: SchoolStack, person: SourcedId, account: Account) -> None:
    """The diary's «Чаты» shows the profile as linked, whoever linked it."""
    diary_store = stack.open_diary_store()
    try:
        diary_store.set_matrix_user(person, account.user_id)
    finally:
        diary_store.close()


async def _link(
    stack: SchoolStack, store: Store, diary: Diary, person: SourcedId, account: UserID | None
) -> SyncResult:
    client = stack.client()
    try:
        return await stack.school_sync(client, store).link(diary, person, account, SyncOptions())
    finally:
        await client.aclose()


def diary_password(args: argparse.Namespace) -> int:
    """Set a person's diary password from stdin (one line): for operators and scripts."""
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD:
        return _fail(f"the password must be at least {MIN_PASSWORD} characters")
    from argon2 import PasswordHasher

    store = SchoolStack(config, args.config).open_diary_store()
    try:
        account = store.find_account(args.login)
        if account is None:
            return _fail(f"{args.login}: no such login, phone or e-mail in the diary")
        store.replace_password(account.person_id, PasswordHasher().hash(password))
    finally:
        store.close()
    print(f"Пароль задан: {account.login} ({account.person_id})")
    return 0


def people_letters(args: argparse.Namespace) -> int:
    """Access letters (a PDF, a page each) for a class's pupils and parents, or for people."""
    from web_client.auth import Auth
    from web_client.letters import LetterError, letters_pdf, make_letters, people_of_class

    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    store = SchoolStack(config, args.config).open_diary_store()
    try:
        diary = store.diary()
        if diary is None:
            return _fail("no diary loaded yet: run `parta sync` first")
        people = [SourcedId(p) for p in args.person or []]
        for title in args.klass or []:
            people += people_of_class(diary, title)
        if not people:
            return _fail("name a class (--class 5А) or people (--person ID)", 2)
        key = ensure_secret_file(config.secrets_dir / "diary_session_key", 48)
        auth = Auth(store, key, config.diary, lambda: datetime.now(UTC).replace(tzinfo=None))
        letters = make_letters(diary, store, auth, people, config.diary_url)
        args.out.write_bytes(letters_pdf(letters, config.diary_url))
    except (LetterError, SecretError, OSError) as e:
        return _fail(f"parta people letters: {e}")
    finally:
        store.close()
    print(f"Писем (letters): {len(letters)} → {args.out}")
    return 0


def run_stack(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    logging.basicConfig(level=logging.INFO)
    with SchoolStack(config, args.config):
        print(f"Synapse: {config.homeserver_url}  appservice: {config.appservice_url}")
        print(f"Дневник (diary): {config.diary_url}")
        print("Ctrl-C stops them all.")
        wait_for_signal()
    return 0


def demo(args: argparse.Namespace) -> int:
    if args.schools > 1:
        from parta.demo_region import run_region_demo

        return run_region_demo(args)
    from parta.demo import run_demo

    return run_demo(args)


def status(args: argparse.Namespace) -> int:
    """Every component's readiness and every store's schema; 1 when something is wrong."""
    from parta.status import (
        Part,
        certificates,
        components,
        last_sync,
        lines,
        report,
        stores,
        versions,
    )

    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(f"parta status: {e}")

    async def asked() -> list[Part]:
        running = await components(config)
        return [*running, await versions(config), *await certificates(config)]

    parts = asyncio.run(asked()) + stores(config) + [last_sync(config)]
    found = report(parts)
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    else:
        print("\n".join(lines(parts)))
        if found["failing"]:
            print(f"не работает: {', '.join(found['failing'])}", file=sys.stderr)
    return 0 if found["ok"] else 1


def db_upgrade(args: argparse.Namespace) -> int:
    """Every store upgraded in place; prints each one's version before and after."""
    from parta.stores import upgrade_all

    try:
        done = upgrade_all(load_config(args.config))
    except (ConfigError, StoreError) as e:
        return _fail(f"parta db upgrade: {e}")
    for step in done:
        moved = "без изменений (unchanged)" if step.before == step.after else "обновлена (upgraded)"
        print(f"{step.store}: {step.before} → {step.after} {moved}")
    return 0


def backup(args: argparse.Namespace) -> int:
    from parta.backup import BackupError
    from parta.backup import backup as make

    try:
        config = load_config(args.config)
        made = make(config, args.config, args.out, tuple(args.recipient))
    except (ConfigError, BackupError, OSError) as e:
        return _fail(f"parta backup: {e}")
    if args.json:
        body = {
            "path": str(made.path),
            "bytes": made.size,
            "files": made.files,
            "databases": list(made.databases),
            "removed": [str(p) for p in made.removed],
        }
        print(json.dumps(body, ensure_ascii=False))
    else:
        print(f"резервная копия (backup): {made.path} ({made.size} байт, файлов {made.files})")
        for old in made.removed:
            print(f"удалена старая (removed): {old}")
    return 0


def backup_key(args: argparse.Namespace) -> int:
    from parta.backup import BackupError, new_key

    try:
        public = new_key(args.out)
    except (BackupError, OSError) as e:
        return _fail(f"parta backup-key: {e}")
    print(f"секретный ключ (secret key, keep it off the school's host): {args.out}")
    print(f"открытый ключ для backup.recipients (public key): {public}")
    return 0


def restore(args: argparse.Namespace) -> int:
    from parta.backup import BackupError
    from parta.backup import restore as bring_back

    try:
        config = load_config(args.config)
        done = bring_back(config, args.archive, args.identity)
    except (ConfigError, BackupError, OSError) as e:
        return _fail(f"parta restore: {e}")
    print(
        f"восстановлено (restored) в {config.state_dir}: файлов {done.files}, "
        f"баз данных {len(done.databases)}; запустите школу: parta run -c {args.config}"
    )
    return 0


def deploy_prepare(args: argparse.Namespace) -> int:
    from parta.deploy import PARTS, prepare

    try:
        config = load_config(args.config)
        changed = prepare(config, args.part or PARTS, args.group)
    except (ConfigError, *SYNC_FAILURES, HomeserverError, SecretError, OSError, KeyError) as e:
        return _fail(f"parta deploy prepare: {e}")
    print(json.dumps({"changed": changed}, ensure_ascii=False))
    return 0


def bench_sync(args: argparse.Namespace) -> int:
    if args.schools > 1:
        from parta.bench.district import run_bench as run_district

        return run_district(args)
    from parta.bench.sync import run_bench

    return run_bench(args)


def bench_fuzz(args: argparse.Namespace) -> int:
    from parta.bench.fuzz import bench_fuzz as run_fuzz  # hypothesis: a development tool

    return run_fuzz(args)


def bench_faults(args: argparse.Namespace) -> int:
    from parta.bench.faults import main

    return main(args)


def bench_federation(args: argparse.Namespace) -> int:
    from parta.bench.federation import run_bench

    return run_bench(args)


def bench_readers(args: argparse.Namespace) -> int:
    from parta.bench.readers import main

    return main(args)


def bench_calls(args: argparse.Namespace) -> int:
    from parta.bench.calls import main

    return main(args)


def bench_day(args: argparse.Namespace) -> int:
    from parta.bench.day import main

    return main(args)
