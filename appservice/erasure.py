"""Erasing people who left the school, after the school's period (GDPR, 152-ФЗ).

::

    store.departures ─due(now, period)─▶ Synapse: deactivate(erase) + delete their uploads
                                      ─▶ store: erased_ms, how many files (the record)

Synapse's erasure removes the profile (name, avatar) and hides the person's messages from
everybody who was not in the room when they were sent; their uploads are deleted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from appservice.school_sync import DAY_MS
from appservice.store import Departure, Store
from kernel.config import RetentionConfig
from kernel.ids import UserID
from kernel.matrix.admin import SynapseAdmin


@dataclass(frozen=True)
class Erased:
    user_id: UserID
    display_name: str
    media: int


def due(
    departures: Collection[Departure], now_ms: int, after_days: int, force: bool = False
) -> list[Departure]:
    """Switched off at least ``after_days`` ago and not erased yet (``force``: any switched
    off); a person noted as gone but not yet switched off waits for the sync."""
    limit = now_ms - after_days * DAY_MS
    return sorted(
        (
            d
            for d in departures
            if d.deactivated_ms is not None
            and d.erased_ms is None
            and (force or d.deactivated_ms <= limit)
        ),
        key=lambda d: d.user_id,
    )


async def erase(admin: SynapseAdmin, store: Store, chosen: Collection[Departure]) -> list[Erased]:
    done = []
    for departure in chosen:
        await admin.deactivate(departure.user_id, erase=True)
        media = await admin.delete_media(departure.user_id)
        store.record_erasure(departure.user_id, media)
        done.append(Erased(departure.user_id, departure.display_name, media))
    return done


async def erase_due(
    admin: SynapseAdmin, store: Store, retention: RetentionConfig, now_ms: int
) -> list[Erased]:
    """What a sync does with ``retention.erase_on_sync``: erase everybody whose period is
    over (nothing when the setting is off)."""
    if not retention.erase_on_sync:
        return []
    ready = due(store.departures().values(), now_ms, retention.erase_after_days)
    return await erase(admin, store, ready)
