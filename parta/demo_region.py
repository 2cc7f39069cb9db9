"""``parta demo --schools 2``: a region of two federating schools on this machine.

School A is the shipped demo school and holds the region's teachers' network space;
school B is generated (МБОУ СОШ № 7). Each has its own Synapse (named
``localhost:<federation port>``, TLS on the federation listener, loopback allowed),
appservice and diary; they federate with each other only. ``var/demo/demo.json``
lists both under ``schools``.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from appservice.diary_sync.model import Diary
from appservice.diary_sync.roster import RosterError, load_roster
from appservice.diary_sync.timetable import Timetable
from kernel.children import wait_for_signal
from kernel.config import (
    AppserviceConfig,
    BotsConfig,
    CallBridgeConfig,
    DiaryConfig,
    HomeserverConfig,
    MetricsConfig,
    RegionConfig,
    RemoteServerConfig,
    SchoolConfig,
)
from parta.demo import BOTS_OFFSET, BRIDGE_OFFSET, METRICS_OFFSET, set_up, write_demo_json
from parta.diary_load import read_timetable
from parta.stack import SchoolStack, StackError
from synthetic.school import generate_school, write_oneroster

FEDERATION_OFFSET = 440
"""Federation listeners at the client port + 440 (8448, 8458 from the default 8008)."""


def region_demo_configs(state: Path, port: int) -> tuple[SchoolConfig, ...]:
    federation = tuple(port + 10 * n + FEDERATION_OFFSET for n in range(2))
    servers = tuple(f"localhost:{p}" for p in federation)
    region = RegionConfig(network_host=servers[0], schools=servers)
    return tuple(
        SchoolConfig(
            server_name=server,
            state_dir=state / f"school-{n}",
            homeserver=HomeserverConfig(client_port=port + 10 * n, federation_port=fed),
            appservice=AppserviceConfig(port=port + 1000 + 10 * n),
            diary=DiaryConfig(port=port + 72 + 10 * n),
            call_bridge=CallBridgeConfig(
                port=port + BRIDGE_OFFSET + 10 * n,
                servers={
                    other: RemoteServerConfig(
                        url=f"https://127.0.0.1:{other_fed}",
                        ca_file=state / f"school-{m}" / "homeserver" / "tls" / "federation.crt",
                    )
                    for m, (other, other_fed) in enumerate(zip(servers, federation, strict=True))
                    if m != n
                },
            ),
            bots=BotsConfig(port=port + BOTS_OFFSET + 10 * n, poll_seconds=10),
            metrics=MetricsConfig(enabled=True, first_port=port + METRICS_OFFSET + 10 * n),
            region=region,
            for_tests=True,  # loopback federation with self-signed certificates
        )
        for n, (server, fed) in enumerate(zip(servers, federation, strict=True))
    )


def _rosters(args: argparse.Namespace, state: Path) -> list[tuple[Diary, Timetable | None]]:
    second = state / "school-1-roster"
    write_oneroster(
        generate_school(120, seed=7, school_name="МБОУ СОШ № 7", school_id="org-7"), second
    )
    rosters = []
    for source in (args.roster, second):
        diary = load_roster(source)
        rosters.append((diary, read_timetable(source, diary)))
    return rosters


def run_region_demo(args: argparse.Namespace) -> int:

    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    try:
        rosters = _rosters(args, state)
    except RosterError as e:
        for problem in e.problems:
            print(problem)
        return 1
    configs = region_demo_configs(state, args.port)
    try:
        with ExitStack() as running:
            stacks = [running.enter_context(SchoolStack.for_config(c)) for c in configs]
            schools: list[dict[str, Any]] = []
            for stack, (diary, timetable) in zip(stacks, rosters, strict=True):
                schools.append(asyncio.run(set_up(stack, diary, timetable, args.eager)))
            out = write_demo_json(args.state, {"schools": schools})
            _print_region(schools, out)
            if not args.exit:
                wait_for_signal()
    except StackError as e:
        print(f"parta demo: {e}")
        return 2
    print("Остановлено (stopped).")
    return 0


def _print_region(schools: list[dict[str, Any]], out: Path) -> None:
    print("Регион из двух школ готов (a region of two federating schools):")
    for school in schools:
        print(f"  {school['name']}: {school['homeserver']} ({school['server_name']})")
        print(f"    Дневник (diary): {school['diary']}")
        for account in school["accounts"]:
            print(f"    - {account['role']:<14} {account['login']} / {account['password']}")
    print(f"  Учётные записи и токены (accounts and tokens): {out}")
    print("Ctrl-C — остановить (stop).")
