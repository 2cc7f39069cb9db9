"""Composition root of the appservice process: ``python -m appservice -c parta.yaml``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet import asyncioreactor

asyncioreactor.install()  # type: ignore[no-untyped-call]  # before anything imports the reactor: linking runs on asyncio

from prometheus_client import REGISTRY  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.internet.task import LoopingCall  # noqa: E402

from appservice.catch_up import CatchUp  # noqa: E402
from appservice.commands_api import CommandsResource  # noqa: E402
from appservice.last_sync_api import LastSyncResource  # noqa: E402
from appservice.linking import LinkResource  # noqa: E402
from appservice.metrics import StoreCollector  # noqa: E402
from appservice.quiet_hours import QuietHours  # noqa: E402
from appservice.readers_api import ReadersResource  # noqa: E402
from appservice.safety_api import SafetyOracle, rules_of  # noqa: E402
from appservice.school_sync import SchoolSync, school_sync_for  # noqa: E402
from appservice.server import (  # noqa: E402
    COMMANDS_PATH,
    LINK_PATH,
    READERS_PATH,
    AppserviceResource,
    make_site,
)
from appservice.store import Store  # noqa: E402
from kernel import tls  # noqa: E402
from kernel.config import ConfigError, SchoolConfig, load_config, parse_quiet_hours  # noqa: E402
from kernel.contracts.appservice import LAST_SYNC_PATH  # noqa: E402
from kernel.ids import ServerName, user_id  # noqa: E402
from kernel.matrix import MatrixClient  # noqa: E402
from kernel.matrix.errors import MatrixFailure  # noqa: E402
from kernel.metrics import serve  # noqa: E402
from kernel.secrets import SecretError, read_secret_file  # noqa: E402

log = logging.getLogger("appservice")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appservice")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        hs_token = read_secret_file(config.hs_token_file)
        as_token = read_secret_file(config.as_token_file)
        link_token = (
            read_secret_file(config.link_token_file) if config.link_token_file.exists() else None
        )
    except (ConfigError, SecretError) as e:
        print(f"parta appservice: {e}", file=sys.stderr)
        return 2
    store = Store.open(config.store_url(), now_ms=lambda: int(time.time() * 1000))
    server_name = ServerName(config.server_name)
    bot = user_id(config.appservice.bot_localpart, server_name)
    safety = SafetyOracle(store, rules_of(config.safety), server_name, bot)
    resource_ = AppserviceResource(store, hs_token, safety=safety)
    linker: tuple[LinkResource, str] | None = None
    if link_token is None:
        log.warning("no %s: the diary cannot link profiles", config.link_token_file)
    else:
        linker = (
            LinkResource(store, _school_sync(config, store, as_token), link_token),
            link_token,
        )
    port = config.appservice.port
    the_reactor: Any = reactor  # the module is typed as a module, not as the reactor it is
    sides: list[tuple[bytes, Any, tuple[str, ...]]] = []
    readers_tokens: list[str] = []  # the diary's, for the page; the bots', for «!кто»
    if linker is not None:
        sides.append((LINK_PATH, linker[0], (linker[1],)))
        sides.append((LAST_SYNC_PATH.encode(), LastSyncResource(store, linker[1]), (linker[1],)))
        readers_tokens.append(linker[1])
    if config.bots_token_file.exists():
        bots_token = read_secret_file(config.bots_token_file)
        sides.append((COMMANDS_PATH, CommandsResource(store, bots_token, safety), (bots_token,)))
        readers_tokens.append(bots_token)
    if readers_tokens:
        ignore = frozenset({str(bot)})  # the school's bot reads nothing
        readers = ReadersResource(store, tuple(readers_tokens), ignore)
        sides.append((READERS_PATH, readers, tuple(readers_tokens)))
    site = make_site(resource_, hs_token, sides)
    if serve(config.metrics, "appservice") is not None:
        REGISTRY.register(StoreCollector(store, config.state_dir, tls.endpoints(config)))
    the_reactor.listenTCP(port, site, interface=config.appservice.bind_host)
    log.info("appservice listening on %s:%d", config.appservice.bind_host, port)
    if config.safety.quiet_hours:
        quiet = _quiet_hours(config, store, as_token, safety)
        _every(config.safety.quiet_check_seconds, quiet)
    if config.appservice.catch_up_seconds:
        _catch_up(config, store, as_token)
    the_reactor.run()
    store.close()
    return 0


def _quiet_hours(
    config: SchoolConfig, store: Store, as_token: str, safety: SafetyOracle
) -> Callable[[], QuietHours]:
    assert config.safety.quiet_hours is not None  # noqa: S101 - checked by the caller
    window = parse_quiet_hours(config.safety.quiet_hours)
    zone = ZoneInfo(config.diary.timezone)
    made: list[QuietHours] = []

    def quiet() -> QuietHours:
        if not made:
            client = MatrixClient(config.homeserver_url, as_token)
            now = partial(datetime.now, zone)
            made.append(QuietHours(client, store, window, now, safety.school))
        return made[0]

    return quiet


def _every(seconds: int, quiet: Callable[[], QuietHours]) -> None:
    async def tick() -> None:
        try:
            await quiet().tick()
        except Exception:  # a homeserver hiccup: the next minute tries again
            log.exception("quiet hours tick failed")

    loop = LoopingCall(lambda: asyncio.ensure_future(tick()))
    loop.start(seconds, now=True)


def _catch_up(config: SchoolConfig, store: Store, as_token: str) -> None:
    """Every ``catch_up_seconds``, the events the homeserver did not send; a tick still
    running when the next is due is not doubled."""
    made: list[CatchUp] = []
    running: list[bool] = []

    async def tick() -> None:
        if running:
            return
        running.append(True)
        try:
            if not made:
                client = MatrixClient(config.homeserver_url, as_token)
                made.append(CatchUp(client, store, lambda: int(time.time() * 1000)))
            await made[0].tick()
        except MatrixFailure as e:  # a homeserver away: the next tick reads the same span
            log.warning("catch-up: the homeserver did not answer (%s); trying again later", e)
        except OperationalError as e:  # the store away: likewise
            log.warning("catch-up: the store is unavailable (%s); trying again later", e.orig)
        except Exception:
            log.exception("catch-up failed")
        finally:
            running.clear()

    loop = LoopingCall(lambda: asyncio.ensure_future(tick()))
    loop.start(config.appservice.catch_up_seconds, now=True)


LINK_OUTAGE_S = 20.0
"""A link waits this long for a homeserver that stopped answering (a restart takes seconds);
the diary waits 30 s for the answer."""


def _school_sync(config: SchoolConfig, store: Store, as_token: str) -> Callable[[], SchoolSync]:
    """The client is made on first use, inside the running asyncio loop."""
    made: list[SchoolSync] = []

    def school() -> SchoolSync:
        if not made:
            client = MatrixClient(config.homeserver_url, as_token, outage_s=LINK_OUTAGE_S)
            made.append(school_sync_for(config, client, store))
        return made[0]

    return school


if __name__ == "__main__":
    sys.exit(main())
