"""Quiet hours: no notifications to students at night, in every Matrix client.

Each linked student's account gets one push rule, ``parta.quiet_hours`` — an
override with no conditions whose action is ``dont_notify`` — enabled inside the
window and disabled outside it. Push rules live on the homeserver, so the quiet
holds in Element and on the phone alike. The appservice checks every minute and
only writes when the state has to change.

    tick ──▶ in_quiet_hours(now)? ──▶ for each linked student puppet whose rule
                                      is not yet in that state: PUT the rule, PUT enabled

Accounts the appservice cannot act for (a student's own account made outside
parta) are left alone and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from urllib.parse import quote

from appservice.diary_sync.safety import School, in_quiet_hours
from appservice.store import Store
from kernel.ids import UserID
from kernel.matrix import MatrixClient

log = logging.getLogger(__name__)
RULE_ID = "parta.quiet_hours"  # a leading dot is reserved for the spec's own rules
_RULE = f"/_matrix/client/v3/pushrules/global/override/{quote(RULE_ID)}"


@dataclass
class QuietHours:
    client: MatrixClient
    store: Store
    window: tuple[time, time]
    local_now: Callable[[], datetime]
    school: Callable[[], School | None]
    """The policy's cached view of the diary (re-read only when it changes)."""
    applied: dict[UserID, bool] = field(default_factory=dict)

    async def tick(self) -> int:
        """Bring every linked student's rule to the state the clock asks for; writes made."""
        quiet = in_quiet_hours(self.local_now().time(), self.window)
        writes = 0
        for user in self._students():
            if self.applied.get(user) is quiet:
                continue
            await self.client.request(
                "PUT", _RULE, {"actions": ["dont_notify"], "conditions": []}, as_user=user
            )
            await self.client.request("PUT", f"{_RULE}/enabled", {"enabled": quiet}, as_user=user)
            self.applied[user] = quiet
            writes += 2
        if writes:
            log.info("quiet hours %s for %d students", "on" if quiet else "off", writes // 2)
        return writes

    def _students(self) -> list[UserID]:
        school = self.school()
        if school is None:
            return []
        accounts, linked = self.store.accounts(), self.store.linked()
        return sorted(
            accounts[pid].user_id
            for pid in linked
            if pid in accounts and accounts[pid].puppet and school.is_student(accounts[pid].user_id)
        )
