"""The school's bots: ``python -m bots -c parta.yaml``.

The lesson bot reconciles every ``bots.poll_seconds`` (and sends due meeting
reminders); the command listener reads ``!собрание`` from the appservice. ``/health``
answers how many reconciliations and syncs have run (for the stack and the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.chat_feature import Chats
from bots.context import BotContext
from bots.homework import HomeworkBook
from bots.homework_api import routes as homework_routes
from bots.homework_feature import HomeworkFeature
from bots.invites import InviteBook
from bots.invites_api import InviteDoor
from bots.invites_api import routes as invite_routes
from bots.lesson_bot import LessonBot, PostBook
from bots.listener import Cursor, Listener
from bots.meeting_feature import MeetingBook, Meetings
from bots.meetings_api import routes as meeting_routes
from bots.metrics import COMMANDS, RUNS
from bots.moderation_api import routes as moderation_routes
from bots.moderation_feature import Moderation, ModerationBook
from bots.readers_feature import Readers
from bots.registry import Registry
from kernel.config import SchoolConfig, load_config
from kernel.contracts.diary import DiaryApi
from kernel.health import database, homeserver_url, reachable, ready
from kernel.ids import ServerName, UserID, user_id
from kernel.matrix import MatrixClient, MatrixFailure, NotFound
from kernel.matrix.client import q
from kernel.metrics import HttpMetrics
from kernel.metrics import serve as serve_metrics
from kernel.secrets import read_secret_file

log = logging.getLogger("bots")


@dataclass
class Bots:
    """Everything one bots process runs, built once."""

    matrix: MatrixClient
    lessons: LessonBot
    meetings: Meetings
    listener: Listener
    door: InviteDoor
    homework: HomeworkBook
    moderation: ModerationBook


def build(config: SchoolConfig) -> Bots:
    bot = user_id(config.appservice.bot_localpart, ServerName(config.server_name))
    matrix = MatrixClient(config.homeserver_url, read_secret_file(config.as_token_file))
    zone = ZoneInfo(config.diary.timezone)

    def to_the_minute() -> datetime:
        return datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)

    ctx = BotContext(matrix, bot, to_the_minute, config.call_bridge_url, config.diary_url)
    remind = timedelta(minutes=config.bots.remind_minutes)
    lessons = LessonBot(
        matrix,
        DiaryApi(config.diary_internal_url, read_secret_file(config.diary_api_token_file)),
        PostBook(config.component_store_url("bots", "bots.db")),
        to_the_minute,
        remind,
        timedelta(days=config.bots.horizon_days),
    )
    invites = InviteBook(config.component_store_url("bots", "invites.db"))
    homework = HomeworkBook(config.component_store_url("bots", "homework.db"))
    meetings_url = config.component_store_url("bots", "meetings.db")
    meetings = Meetings(ctx, MeetingBook(meetings_url), invites, remind)
    moderation = ModerationBook(config.component_store_url("bots", "moderation.db"))
    appservice = (config.appservice_url, read_secret_file(config.bots_token_file))
    registry = Registry.of(
        [
            meetings.feature(),
            Chats(ctx, invites).feature(),
            HomeworkFeature(ctx, homework).feature(),
            Moderation(ctx, moderation).feature(),
            Readers(ctx, appservice).feature(),
        ]
    )
    listener = Listener(registry, Cursor(meetings_url), appservice, bot)
    local_now = lambda: datetime.now(zone).replace(tzinfo=None)  # noqa: E731
    door = InviteDoor(invites, matrix, config.server_name, local_now)
    return Bots(matrix, lessons, meetings, listener, door, homework, moderation)


BOT_NAMES = {"ru": "Школьный бот", "en": "School bot"}


async def name_the_bot(matrix: MatrixClient, bot: UserID, name: str) -> bool:
    """Give the school's bot a name people read in every client (once; True when done)."""
    try:
        profile = await matrix.request("GET", f"/_matrix/client/v3/profile/{q(bot)}")
    except NotFound:
        profile = {}
    except MatrixFailure:
        return False
    if profile.get("displayname") == name:
        return True
    try:
        await matrix.set_display_name(bot, name)
    except MatrixFailure:
        return False
    return True


async def serve(config: SchoolConfig) -> None:
    bots = build(config)
    bot = user_id(config.appservice.bot_localpart, ServerName(config.server_name))
    status: dict[str, Any] = {"runs": 0, "last": [], "error": None, "syncs": 0, "commands": 0}
    named = False

    async def loop() -> None:
        nonlocal named
        while True:
            try:
                if not named:
                    named = await name_the_bot(bots.matrix, bot, BOT_NAMES[config.language])
                done = await bots.lessons.once()
                await bots.meetings.reminders()
                status["last"] = [type(a).__name__ for a in done]
                status["error"] = None
                RUNS.labels("lessons", "ok").inc()
            except Exception as e:  # the diary or the homeserver is down: try again later
                log.warning("lesson bot run failed: %r", e)
                status["error"] = repr(e)
                RUNS.labels("lessons", "failed").inc()
            status["runs"] += 1
            await asyncio.sleep(config.bots.poll_seconds)

    async def listen() -> None:
        while True:
            try:
                read = await bots.listener.once()
                status["commands"] += read
                COMMANDS.inc(read)
                RUNS.labels("commands", "ok").inc()
            except Exception as e:  # the appservice is down: try again later
                log.warning("reading commands failed: %r", e)
                RUNS.labels("commands", "failed").inc()
            status["syncs"] += 1
            await asyncio.sleep(min(config.bots.poll_seconds, 2.0))

    async def health(request: Request) -> Response:
        return JSONResponse(status)

    async def ready_(request: Request) -> Response:
        code, body = ready(
            [
                database(bots.homework.engine),
                await reachable("homeserver", homeserver_url(config.homeserver_url)),
                await reachable("appservice", config.appservice_url + "/health"),
            ]
        )
        return JSONResponse(body, code)

    invite_token = read_secret_file(config.invite_token_file)
    app = Starlette(
        middleware=[Middleware(HttpMetrics, component="bots")],
        routes=[
            Route("/health", health),
            Route("/ready", ready_),
            *invite_routes(bots.door, invite_token),
            *homework_routes(bots.homework, invite_token, bots.matrix),
            *moderation_routes(bots.moderation, invite_token),
            *meeting_routes(
                bots.meetings,
                invite_token,
                lambda: datetime.now(ZoneInfo(config.diary.timezone)).replace(tzinfo=None),
            ),
        ],
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.bots.bind_host, port=config.bots.port, log_level="warning")
    )
    serve_metrics(config.metrics, "bots")
    tasks = [asyncio.ensure_future(loop()), asyncio.ensure_future(listen())]
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bots.matrix.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bots")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(load_config(args.config)))


if __name__ == "__main__":
    main()
