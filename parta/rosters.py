"""``parta roster …``: what an operator sees of a roster before anything is synced.

roster check SOURCE [--base PREVIOUS] [--strict]
    errors, then warnings, one ``file:line:column: [warning: ]reason`` line each;
    then the diary's numbers (bulk) or the changes per file (delta); exit 0 when
    the roster can be synced (``--strict``: and has no warnings), else 1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from appservice.diary_sync.model import Diary
from appservice.diary_sync.roster import FileChanges, Problem, Roster, RosterError, check_roster
from appservice.diary_sync.roster.manifest import V10
from appservice.diary_sync.summary import format_summary, summarize
from appservice.diary_sync.timetable import Timetable
from kernel.config import ConfigError, load_config
from parta import spreadsheet
from parta.diary_load import read_timetable
from parta.stack import SchoolStack


def _fail(message: str, code: int = 1) -> int:
    print(f"parta: {message}", file=sys.stderr)
    return code


def roster_check(args: argparse.Namespace) -> int:
    try:
        base = check_roster(args.base).diary if args.base is not None else None
    except RosterError as e:
        _print(e.problems)
        return _fail(f"{args.base}: the previous import has problems (--base)")
    try:
        roster = check_roster(args.source, base=base)
    except RosterError as e:
        refused = [*e.problems, *(w.as_error() if args.strict else w for w in e.warnings)]
        _print(refused)
        return _fail(f"{args.source}: {_counted(e.problems, e.warnings)}; nothing can be synced")
    if args.strict and roster.warnings:
        _print(w.as_error() for w in roster.warnings)
        return _fail(f"{args.source}: {_counted(roster.warnings, ())} (--strict); nothing synced")
    _print(roster.warnings)
    print(format_roster(roster))
    return 0


def _print(problems: Iterable[Problem]) -> None:
    for problem in problems:
        print(problem)


def _counted(problems: tuple[Problem, ...], warnings: tuple[Problem, ...]) -> str:
    text = f"{len(problems)} problem(s)"
    return f"{text}, {len(warnings)} warning(s)" if warnings else text


def format_roster(roster: Roster) -> str:
    """The format, then the diary's numbers or a delta's changes, then the warnings."""
    lines = [f"Формат (format): {_format_name(roster)}"]
    if roster.diary is not None:
        lines.append(format_summary(summarize(roster.diary)))
    lines += [_format_changes(changes) for changes in roster.changes]
    lines.append(f"Предупреждения (warnings): {len(roster.warnings)}")
    return "\n".join(lines)


def _format_name(roster: Roster) -> str:
    if roster.spreadsheet:
        return "таблица parta (xlsx), полная выгрузка (bulk)"
    if roster.sds:
        return f"Microsoft SDS v{roster.version} CSV, полная выгрузка (bulk)"
    name = f"OneRoster {roster.version}" if roster.version else "OneRoster"
    if roster.version == V10:
        name += ", без manifest.csv (no manifest)"
    if not roster.is_delta:
        return f"{name}, полная выгрузка (bulk)"
    if roster.diary is None:
        return f"{name}, изменения (delta) без предыдущей выгрузки (no base): только проверка"
    return f"{name}, изменения (delta) поверх предыдущей выгрузки (on its base)"


def _format_changes(changes: FileChanges) -> str:
    if changes.added is None or changes.updated is None:
        upserts = f"добавить или изменить (active): {changes.active}"
    else:
        upserts = f"добавить (added): {changes.added}, изменить (updated): {changes.updated}"
    return f"{changes.file} — {upserts}, удалить (tobedeleted): {changes.deleted}"


def roster_template(args: argparse.Namespace) -> int:
    try:
        args.out.write_bytes(spreadsheet.template())
    except OSError as e:
        return _fail(f"{args.out}: {e}", 2)
    print(f"Шаблон записан в {args.out}: заполните листы и проверьте `parta roster check`")
    return 0


def roster_export(args: argparse.Namespace) -> int:
    try:
        diary, timetable = _exported(args)
    except RosterError as e:
        _print(e.problems)
        return _fail(f"{args.source}: the roster has problems; nothing was written")
    except (ConfigError, OSError) as e:
        return _fail(str(e), 2)
    if diary is None:
        return _fail("no diary loaded yet: run `parta sync` first")
    if len(diary.schools) != 1:
        return _fail(f"a spreadsheet holds one school; this roster has {len(diary.schools)}")
    args.xlsx.write_bytes(spreadsheet.export(diary, timetable))
    print(f"Таблица записана в {args.xlsx}: {len(diary.people)} человек, {len(diary.classes)} кл.")
    return 0


def _exported(args: argparse.Namespace) -> tuple[Diary | None, Timetable | None]:
    """The roster at SOURCE, or the diary as the school's last sync left it."""
    if args.source is not None:
        diary = check_roster(args.source).diary
        return diary, (read_timetable(args.source, diary) if diary is not None else None)
    config = load_config(args.config)
    store = SchoolStack(config, args.config).open_diary_store()
    try:
        return store.diary(), store.timetable()
    finally:
        store.close()
