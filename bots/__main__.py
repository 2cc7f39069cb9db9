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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from nio import AsyncClient, ProfileSetDisplayNameError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.commands import Commands, MeetingBook
from bots.homework import HomeworkBook
from bots.homework_api import routes as homework_routes
from bots.invites import InviteBook
from bots.invites_api import InviteDoor
from bots.invites_api import routes as invite_routes
from bots.lesson_bot import LessonBot, PostBook
from bots.meetings_api import routes as meeting_routes
from kernel.config import SchoolConfig, load_config
from kernel.ids import ServerName, user_id
from kernel.secrets import read_secret_file

log = logging.getLogger("bots")


def build(
    config: SchoolConfig,
) -> tuple[LessonBot, Commands, InviteDoor, HomeworkBook, AsyncClient]:
    bot = user_id(config.appservice.bot_localpart, ServerName(config.server_name))
    matrix = AsyncClient(config.homeserver_url, user=bot)
    matrix.access_token = read_secret_file(config.as_token_file)  # the appservice's own user
    matrix.user_id = bot
    zone = ZoneInfo(config.diary.timezone)
    lessons = LessonBot(
        matrix,
        config.diary_internal_url,
        read_secret_file(config.diary_api_token_file),
        PostBook(config.state_dir / "bots" / "bots.db"),
        lambda: datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0),
        timedelta(minutes=config.bots.remind_minutes),
        timedelta(days=config.bots.horizon_days),
    )
    invites = InviteBook(config.state_dir / "bots" / "invites.db")
    homework = HomeworkBook(config.state_dir / "bots" / "homework.db")
    local_now = lambda: datetime.now(zone).replace(tzinfo=None)  # noqa: E731
    door = InviteDoor(
        invites,
        config.homeserver_url,
        read_secret_file(config.as_token_file),
        config.server_name,
        local_now,
    )
    commands = Commands(
        matrix,
        MeetingBook(config.state_dir / "bots" / "meetings.db"),
        config.call_bridge_url,
        lambda: datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0),
        timedelta(minutes=config.bots.remind_minutes),
        (config.appservice_url, read_secret_file(config.bots_token_file)),
        invites,
        config.diary_url,
        homework,
    )
    return lessons, commands, door, homework, matrix


BOT_NAMES = {"ru": "Школьный бот", "en": "School bot"}


async def name_the_bot(matrix: AsyncClient, name: str) -> bool:
    """Give the school's bot a name people read in every client (once; True when done)."""
    current = await matrix.get_displayname(matrix.user_id)
    if getattr(current, "displayname", None) == name:
        return True
    answer = await matrix.set_displayname(name)
    return not isinstance(answer, ProfileSetDisplayNameError)


async def serve(config: SchoolConfig) -> None:
    lessons, commands, door, homework, matrix = build(config)
    status: dict[str, Any] = {"runs": 0, "last": [], "error": None, "syncs": 0, "commands": 0}
    named = False

    async def loop() -> None:
        nonlocal named
        while True:
            try:
                if not named:
                    named = await name_the_bot(matrix, BOT_NAMES[config.language])
                done = await lessons.once()
                await commands.reminders()
                status["last"] = [type(a).__name__ for a in done]
                status["error"] = None
            except Exception as e:  # the diary or the homeserver is down: try again later
                log.warning("lesson bot run failed: %r", e)
                status["error"] = repr(e)
            status["runs"] += 1
            await asyncio.sleep(config.bots.poll_seconds)

    async def listen() -> None:
        while True:
            try:
                status["commands"] += await commands.once()
            except Exception as e:  # the appservice is down: try again later
                log.warning("reading commands failed: %r", e)
            status["syncs"] += 1
            await asyncio.sleep(min(config.bots.poll_seconds, 2.0))

    async def health(request: Request) -> Response:
        return JSONResponse(status)

    invite_token = read_secret_file(config.invite_token_file)
    app = Starlette(
        routes=[
            Route("/health", health),
            *invite_routes(door, invite_token),
            *homework_routes(homework, invite_token),
            *meeting_routes(
                commands,
                invite_token,
                lambda: datetime.now(ZoneInfo(config.diary.timezone)).replace(tzinfo=None),
            ),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.bots.bind_host, port=config.bots.port, log_level="warning")
    )
    tasks = [asyncio.ensure_future(loop()), asyncio.ensure_future(listen())]
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await matrix.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bots")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(load_config(args.config)))


if __name__ == "__main__":
    main()
