"""School policy, loaded into Synapse as a module (AGPL-3.0-or-later, like Synapse).

This slice enforces one rule: a room the diary manages admits exactly the people
the diary puts in it. Class rooms are restricted to the school space, and every
school member is in the space, so without this check any student could join any
class's chat. The appservice owns the answer (``/_parta/v1/may_join``); the
module asks it and fails closed when it cannot.

::

    user joins room ──▶ invited? ── yes ──▶ allowed (somebody with power chose to)
                          │ no
                          ▼
                appservice /may_join ──▶ managed and not a member ──▶ 403 with the reason
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from synapse.module_api import NOT_SPAM, ModuleApi
from synapse.module_api.errors import Codes

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "Проверка доступа к чату временно недоступна, попробуйте позже "
    "(the school's access check is unavailable; try again later)"
)


class SchoolPolicy:
    def __init__(self, config: dict[str, Any], api: ModuleApi) -> None:
        self._api = api
        self._url = str(config["appservice_url"]).rstrip("/") + "/_parta/v1/may_join"
        self._token = Path(config["token_file"]).read_text(encoding="utf-8").strip()
        api.register_spam_checker_callbacks(user_may_join_room=self.user_may_join_room)

    @staticmethod
    def parse_config(config: dict[str, Any]) -> dict[str, Any]:
        for key in ("appservice_url", "token_file"):
            if not config.get(key):
                raise ValueError(f"parta school policy: '{key}' is required")
        return config

    async def user_may_join_room(
        self, user: str, room: str, is_invited: bool
    ) -> Any:  # NOT_SPAM | (Codes, dict): Synapse's own union
        if is_invited:
            return NOT_SPAM
        try:
            answer = await self._api.http_client.get_json(
                self._url,
                args={"room_id": room, "user_id": user},
                headers={b"Authorization": [f"Bearer {self._token}".encode()]},
            )
        except Exception as e:
            log.warning("may_join check failed for %s: %s", room, type(e).__name__)
            return (Codes.FORBIDDEN, {"error": UNAVAILABLE})
        if answer.get("allowed"):
            return NOT_SPAM
        return (Codes.FORBIDDEN, {"error": str(answer.get("reason", "")) or "forbidden"})
