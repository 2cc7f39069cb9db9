"""The ``parta`` command: the composition root for everything an operator runs.

::

    parta school generate --students N --out DIR   a synthetic school (OneRoster 1.2 CSV;
                                                   --format sds: SDS v2.1 CSV)
        [--schools N]                              a district: N schools in one export
    parta roster check SOURCE [--strict]           validate a roster, print a summary
    parta roster template --out школа.xlsx         a spreadsheet for a school to fill in
    parta roster export --xlsx OUT [SOURCE]        a roster (or the diary) as that spreadsheet
    parta sync SOURCE -c parta.yaml [--dry-run]    reconcile the school's Matrix with the roster
    parta sync SOURCE -c a.yaml -c b.yaml          a district's export onto several servers
    parta status -c parta.yaml [--json]            is every part of the school working?
    parta people link PERSON -c parta.yaml         link a diary person, join their rooms
    parta people erase [--person ID] -c parta.yaml erase people who left, after the period
    parta people export ID --out data.zip          a person's data (subject-access request)
    parta diary password LOGIN -c parta.yaml       set a diary password (read from stdin)
    parta backup -c parta.yaml --out DIR           the whole school, encrypted (age), one file
    parta restore FILE -c parta.yaml --identity K  a backup onto an empty state folder
    parta run -c parta.yaml                        Synapse, appservice, diary in the foreground
    parta demo                                     a whole demo school (what `make demo` runs)
    parta deploy prepare -c parta.yaml             secrets, databases, homeserver files (Ansible)
    parta bench sync --students N --json           the sync benchmark
    parta bench sync --schools 30 --students 350   a district's export on one server
    parta bench federation --messages 50           latency between two schools' servers
    parta bench calls --participants 30 --json     a class's lesson through the call bridge
    parta bench readers --members 1000 --json      «Кто прочитал» in a big room
    parta bench day --clients 1000 --json          a whole school's day on a whole stack
    parta bench fuzz --cases 10000 --json          every parser of outside input, fuzzed
    parta bench faults --rounds 100 --json         kill -9 at random points, check invariants
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from parta import commands, departures, rosters


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parta", description=__doc__.split("::")[0].strip())
    sub = parser.add_subparsers(dest="command", required=True)

    school = sub.add_parser("school", help="synthetic schools").add_subparsers(required=True)
    gen = school.add_parser("generate", help="write a synthetic school as OneRoster 1.2 CSV")
    gen.add_argument("--students", type=int, required=True, help="per school")
    gen.add_argument(
        "--schools", type=int, default=1, help="a district: this many schools in one export"
    )
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument(
        "--format",
        choices=["oneroster", "sds"],
        default="oneroster",
        help="OneRoster 1.2 CSV (default) or Microsoft School Data Sync v2.1 CSV",
    )
    gen.add_argument(
        "--year",
        type=int,
        help="the same school in the school year starting then (2025 or later): class ids "
        "carry the year, the 11th grade has left, new 1st grades",
    )
    gen.set_defaults(run=commands.school_generate)

    roster = sub.add_parser("roster", help="rosters").add_subparsers(required=True)
    check = roster.add_parser("check", help="validate a roster without touching any server")
    check.add_argument("source", type=Path)
    check.add_argument(
        "--base", type=Path, help="the previous (bulk) export a delta applies to: exact changes"
    )
    check.add_argument("--strict", action="store_true", help="warnings refuse the roster too")
    check.set_defaults(run=rosters.roster_check)
    template = roster.add_parser("template", help="parta's spreadsheet to fill in (.xlsx)")
    template.add_argument("--out", type=Path, required=True, help="the .xlsx to write")
    template.set_defaults(run=rosters.roster_template)
    export = roster.add_parser("export", help="a roster as parta's spreadsheet, to edit")
    export.add_argument("source", type=Path, nargs="?", help="a roster (default: the diary)")
    export.add_argument("--xlsx", type=Path, required=True, help="the .xlsx to write")
    _config_arg(export)
    export.set_defaults(run=rosters.roster_export)

    sync = sub.add_parser("sync", help="make the school's Matrix match the roster")
    sync.add_argument("source", type=Path)
    sync.add_argument(
        "-c",
        "--config",
        type=Path,
        action="append",
        help="a server's parta.yaml (default parta.yaml); several: a district's servers, "
        "each taking the schools its district.schools lists",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.add_argument("--eager", action="store_true", help="join everybody now, not on link")
    sync.add_argument("--force", action="store_true", help="apply even a destructive plan")
    sync.add_argument("--json", action="store_true", help="print the result as JSON")
    sync.add_argument("--strict", action="store_true", help="roster warnings refuse it too")
    sync.set_defaults(run=commands.sync)

    people = sub.add_parser("people", help="diary people").add_subparsers(required=True)
    link = people.add_parser("link", help="link a diary person to a Matrix account")
    link.add_argument("person", help="the person's sourcedId")
    link.add_argument("--user-id", help="an existing Matrix account (adults: any server)")
    _config_arg(link)
    link.set_defaults(run=commands.people_link)
    erase = people.add_parser(
        "erase", help="erase people who left (profile, uploads) after the school's period"
    )
    erase.add_argument("--person", action="append", help="a sourcedId or a Matrix id")
    erase.add_argument("--now", action="store_true", help="do not wait for the period")
    erase.add_argument("--json", action="store_true", help="print the result as JSON")
    _config_arg(erase)
    erase.set_defaults(run=departures.people_erase)
    export = people.add_parser("export", help="a person's data as a zip (subject access)")
    export.add_argument("person", help="a sourcedId or a Matrix id")
    export.add_argument("--out", type=Path, required=True, help="the zip to write")
    _config_arg(export)
    export.set_defaults(run=departures.people_export)
    letters = people.add_parser("letters", help="access letters with one-time codes (PDF)")
    letters.add_argument(
        "--class", dest="klass", action="append", help="a homeroom: «5А» or its id"
    )
    letters.add_argument("--person", action="append", help="a person's sourcedId")
    letters.add_argument("--out", type=Path, required=True, help="the PDF to write")
    _config_arg(letters)
    letters.set_defaults(run=commands.people_letters)

    diary = sub.add_parser("diary", help="the diary (web_client)").add_subparsers(required=True)
    password = diary.add_parser("password", help="set a diary password, read from stdin")
    password.add_argument("login", help="login, phone or e-mail")
    _config_arg(password)
    password.set_defaults(run=commands.diary_password)

    run = sub.add_parser("run", help="run Synapse and the appservice in the foreground")
    _config_arg(run)
    run.set_defaults(run=commands.run_stack)

    demo = sub.add_parser("demo", help="a whole demo school on embedded defaults (SQLite)")
    demo.add_argument("--state", type=Path, default=Path("var/demo"))
    demo.add_argument("--roster", type=Path, default=Path("demo/school"))
    demo.add_argument("--port", type=int, default=8008, help="the homeserver's client port")
    demo.add_argument("--appservice-port", type=int, help="default: the client port + 1000")
    demo.add_argument("--diary-port", type=int, help="default: the client port + 72 (8080)")
    demo.add_argument(
        "--bridge-port", type=int, help="the call bridge's front (default: client port + 1082)"
    )
    demo.add_argument(
        "--bots-port", type=int, help="the bots' status (default: client port + 1081)"
    )
    demo.add_argument(
        "--metrics-port",
        type=int,
        help="the first of the metrics ports, Synapse's (default: client port + 1392 = 9400)",
    )
    demo.add_argument("--eager", action="store_true")
    demo.add_argument(
        "--schools", type=int, choices=[1, 2], default=1, help="2: a region, two federating schools"
    )
    demo.add_argument("--exit", action="store_true", help="stop once set up (for scripts)")
    demo.set_defaults(run=commands.demo)

    db = sub.add_parser("db", help="the school's databases").add_subparsers(required=True)
    db_upgrade = db.add_parser("upgrade", help="bring every store up to this release's schema")
    _config_arg(db_upgrade)
    db_upgrade.set_defaults(run=commands.db_upgrade)

    back = sub.add_parser("backup", help="the whole school, encrypted, in one file")
    _config_arg(back)
    back.add_argument("--out", type=Path, required=True, help="the folder the backups go to")
    back.add_argument(
        "--recipient",
        action="append",
        default=[],
        help="an age public key (default: backup.recipients)",
    )
    back.add_argument("--json", action="store_true")
    back.set_defaults(run=commands.backup)
    key = sub.add_parser("backup-key", help="a new key pair for the backups (keep it off the host)")
    key.add_argument("--out", type=Path, required=True, help="the secret key's file (0600)")
    key.set_defaults(run=commands.backup_key)
    rest = sub.add_parser("restore", help="a backup onto an empty state folder")
    rest.add_argument("archive", type=Path)
    _config_arg(rest)
    rest.add_argument("--identity", type=Path, required=True, help="the backups' secret key")
    rest.set_defaults(run=commands.restore)

    deploy = sub.add_parser("deploy", help="for the Ansible roles").add_subparsers(required=True)
    prepare = deploy.add_parser("prepare", help="secrets, databases, homeserver files (idempotent)")
    _config_arg(prepare)
    prepare.add_argument("--part", action="append", choices=["secrets", "databases", "homeserver"])
    prepare.add_argument("--group", help="the components' group: it may read what is written")
    prepare.set_defaults(run=commands.deploy_prepare)

    status = sub.add_parser("status", help="is every part of the school working?")
    _config_arg(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=commands.status)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(required=True)
    bsync = bench.add_parser("sync", help="provision a synthetic school, print figures")
    bsync.add_argument("--students", type=int, default=1000, help="per school")
    bsync.add_argument(
        "--schools", type=int, default=1, help="a district in one export, on one shared server"
    )
    bsync.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    bsync.add_argument("--json", action="store_true")
    bsync.add_argument("--no-baseline", action="store_true")
    bsync.add_argument("--state", type=Path, default=Path("var/bench"))
    bsync.set_defaults(run=commands.bench_sync)
    bfed = bench.add_parser("federation", help="message latency between two schools' servers")
    bfed.add_argument("--messages", type=int, default=50)
    bfed.add_argument("--json", action="store_true")
    bfed.add_argument("--state", type=Path, default=Path("var/bench"))
    bfed.set_defaults(run=commands.bench_federation)
    bcalls = bench.add_parser("calls", help="a class's lesson through the call bridge")
    bcalls.add_argument("--participants", type=int, default=30)
    bcalls.add_argument("--warmup", type=float, default=4.0)
    bcalls.add_argument("--window", type=float, default=15.0)
    bcalls.add_argument("--json", action="store_true")
    bcalls.add_argument("--no-baseline", action="store_true")
    bcalls.add_argument(
        "--no-compare", action="store_true", help="skip the run forwarding every voice"
    )
    bcalls.set_defaults(run=commands.bench_calls)
    bfuzz = bench.add_parser("fuzz", help="every parser of outside input, N random inputs each")
    bfuzz.add_argument("--cases", type=int, default=10000)
    bfuzz.add_argument("--json", action="store_true")
    bfuzz.set_defaults(run=commands.bench_fuzz)
    bfaults = bench.add_parser("faults", help="kill -9 at random points, check the invariants")
    bfaults.add_argument("--rounds", type=int, default=5)
    bfaults.add_argument("--kinds", default="", help="comma-separated; default: every kind")
    bfaults.add_argument("--seed", type=int, default=1)
    bfaults.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    bfaults.add_argument("--state", type=Path, default=None, help="default: a temporary folder")
    bfaults.add_argument("--json", action="store_true")
    bfaults.set_defaults(run=commands.bench_faults)
    breaders = bench.add_parser("readers", help="«Кто прочитал» for a big room")
    breaders.add_argument("--members", type=int, default=1000)
    breaders.add_argument("--messages", type=int, default=500)
    breaders.add_argument("--rounds", type=int, default=20)
    breaders.add_argument("--json", action="store_true")
    breaders.set_defaults(run=commands.bench_readers)
    bday = bench.add_parser("day", help="a whole school's day: chats, announcement, a lesson")
    bday.add_argument("--clients", type=int, default=1000)
    bday.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    bday.add_argument("--rate", type=float, default=5.0, help="messages a second, school-wide")
    bday.add_argument("--day", type=float, default=60.0, help="seconds of chatter")
    bday.add_argument("--morning", type=float, default=30.0, help="the first syncs' window (s)")
    bday.add_argument("--drain", type=float, default=60.0, help="at most this long for the rest")
    bday.add_argument("--receipts", type=float, default=0.3, help="share of syncs marking read")
    bday.add_argument("--no-typing", action="store_true")
    bday.add_argument("--no-lesson", action="store_true")
    bday.add_argument(
        "--photo-every", type=int, default=20, help="one message in K is a photo (0: none)"
    )
    bday.add_argument("--no-poll", action="store_true", help="no teacher's poll in a class")
    bday.add_argument(
        "--no-settle",
        action="store_true",
        help="start the morning right after the school's sync, before Synapse's user directory"
        " has caught up on it",
    )
    bday.add_argument(
        "--settle-max", type=float, default=3600.0, help="at most this long for the directory (s)"
    )
    bday.add_argument(
        "--workers", type=int, default=0, help="Synapse's generic workers (PostgreSQL only)"
    )
    bday.add_argument(
        "--lever",
        help="wakeups, gc, caches, or several (gc,wakeups): each N as asked, then with each"
        " lever and as asked again (parta.bench.day_lever)",
    )
    bday.add_argument("--find-knee", action="store_true", help="step N up to --clients")
    bday.add_argument("--steps", type=int, default=4, help="how many N --find-knee tries")
    bday.add_argument("--seed", type=int, default=1)
    bday.add_argument(
        "--profile-synapse",
        action="store_true",
        help="sample Synapse's main process with py-spy through the day (synapse_profile)",
    )
    bday.add_argument("--state", type=Path, default=Path("var/bench"))
    bday.add_argument("--json", action="store_true")
    bday.set_defaults(run=commands.bench_day)
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("parta.yaml"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
