"""Every store of a school, where it lives under a configuration, and its migrations.

The one list ``parta db upgrade``, ``parta deploy prepare`` and the migration test share;
each component also upgrades its own stores when it opens them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

import appservice.store
import bots.homework
import bots.invites
import bots.lesson_bot
import bots.listener
import bots.meeting_feature
import bots.moderation_feature
import call_bridge.attendance
import call_bridge.replay
import web_client.store
from kernel.config import SchoolConfig
from kernel.db import Migration, StoreError, engine_for, upgrade, version_of


@dataclass(frozen=True)
class StoreSpec:
    name: str
    url: str
    migrations: Sequence[Migration]


def stores_of(config: SchoolConfig) -> list[StoreSpec]:
    def bots_url(file: str) -> str:
        return config.component_store_url("bots", file)

    def bridge_url(file: str) -> str:
        return config.component_store_url("bridge", file)

    return [
        StoreSpec(appservice.store.STORE, config.store_url(), appservice.store.MIGRATIONS),
        StoreSpec(web_client.store.STORE, config.diary_store_url(), web_client.store.MIGRATIONS),
        StoreSpec(bots.lesson_bot.STORE, bots_url("bots.db"), bots.lesson_bot.MIGRATIONS),
        StoreSpec(bots.invites.STORE, bots_url("invites.db"), bots.invites.MIGRATIONS),
        StoreSpec(bots.homework.STORE, bots_url("homework.db"), bots.homework.MIGRATIONS),
        StoreSpec(
            bots.meeting_feature.STORE, bots_url("meetings.db"), bots.meeting_feature.MIGRATIONS
        ),
        StoreSpec(bots.listener.STORE, bots_url("meetings.db"), bots.listener.MIGRATIONS),
        StoreSpec(
            bots.moderation_feature.STORE,
            bots_url("moderation.db"),
            bots.moderation_feature.MIGRATIONS,
        ),
        StoreSpec(
            call_bridge.replay.STORE, bridge_url("used_tokens.db"), call_bridge.replay.MIGRATIONS
        ),
        StoreSpec(
            call_bridge.attendance.STORE,
            bridge_url("attendance.db"),
            call_bridge.attendance.MIGRATIONS,
        ),
    ]


@dataclass(frozen=True)
class Upgraded:
    store: str
    before: int
    after: int


def upgrade_all(config: SchoolConfig) -> list[Upgraded]:
    """Every store brought up to this release's schema, in place."""
    done = []
    for spec in stores_of(config):
        engine = engine_for(spec.url)
        try:
            before, after = upgrade(engine, spec.name, spec.migrations)
        except sa.exc.SQLAlchemyError as e:
            reason = getattr(e, "orig", None) or e
            raise StoreError(f"cannot upgrade the {spec.name} store: {reason}") from e
        finally:
            engine.dispose()
        done.append(Upgraded(spec.name, before, after))
    return done


def versions(config: SchoolConfig) -> dict[str, int | None]:
    """Each store's recorded schema version (``None``: never opened)."""
    found: dict[str, int | None] = {}
    for spec in stores_of(config):
        engine = engine_for(spec.url)
        try:
            found[spec.name] = version_of(engine, spec.name)
        finally:
            engine.dispose()
    return found
