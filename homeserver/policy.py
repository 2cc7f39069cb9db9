"""School policy, loaded into Synapse as a module (AGPL-3.0-or-later, like Synapse).

A room the diary manages admits exactly the people the diary puts in it (class
rooms are restricted to the school space, and every school member is in the
space, so without this any student could join any class's chat). On top of it,
safe mode: a student is reachable only by their school's staff, classmates and
own parents; a student never joins or is invited into a room that federates;
students create no rooms unless the school allows it. The appservice owns the
answers — it knows the roles from the diary — the module asks and fails closed.

::

    join   ──▶ invited into a room that does not federate? ── yes ──▶ allowed
               └─▶ appservice /may_join (managed membership; students and federation)
    invite ──▶ appservice /may_invite  (local and remote inviters alike)
    create ──▶ appservice /may_create_room ──▶ refused, or kept local if a student is in it
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from synapse.module_api import NOT_SPAM, ModuleApi, Requester
from synapse.module_api.errors import Codes, SynapseError

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "Проверка доступа к чату временно недоступна, попробуйте позже "
    "(the school's access check is unavailable; try again later)"
)


class SchoolPolicy:
    def __init__(self, config: dict[str, Any], api: ModuleApi) -> None:
        self._api = api
        self._token = Path(config["token_file"]).read_text(encoding="utf-8").strip()
        self._base = str(config["appservice_url"]).rstrip("/") + "/_parta/v1/"
        api.register_spam_checker_callbacks(
            user_may_join_room=self.user_may_join_room,
            user_may_invite=self.user_may_invite,
        )
        api.register_third_party_rules_callbacks(on_create_room=self.on_create_room)

    @staticmethod
    def parse_config(config: dict[str, Any]) -> dict[str, Any]:
        for key in ("appservice_url", "token_file"):
            if not config.get(key):
                raise ValueError(f"parta school policy: '{key}' is required")
        return config

    async def user_may_join_room(
        self, user: str, room: str, is_invited: bool
    ) -> Any:  # NOT_SPAM | (Codes, dict): Synapse's own union
        federates = await self._federates(room)
        if is_invited and not federates:
            return NOT_SPAM  # somebody with power chose to, and the invite was checked
        return await self._ask("may_join", {"room_id": room, "user_id": user}, federates)

    async def user_may_invite(self, inviter: str, invitee: str, room: str) -> Any:
        federates = await self._federates(room)
        return await self._ask("may_invite", {"inviter": inviter, "invitee": invitee}, federates)

    async def on_create_room(
        self, requester: Requester, config: dict[str, Any], is_requester_admin: bool
    ) -> None:
        """Refuse, or keep a room with a student in it on this server (``m.federate: false``)."""
        invitees = [str(i) for i in config.get("invite", []) if isinstance(i, str)]
        args = {
            "user_id": requester.user.to_string(),
            "direct": "1" if config.get("is_direct") else "0",
            "invitees": ",".join(invitees),
        }
        answer = await self._get("may_create_room", args)
        if answer is None:
            raise SynapseError(403, UNAVAILABLE, Codes.FORBIDDEN)
        if not answer.get("allowed"):
            raise SynapseError(403, str(answer.get("reason", "")) or "forbidden", Codes.FORBIDDEN)
        if answer.get("local_only"):
            content = config.setdefault("creation_content", {})
            if isinstance(content, dict):
                content["m.federate"] = False

    async def _federates(self, room: str) -> bool:
        """A room federates unless its create event says ``m.federate: false``."""
        try:
            state = await self._api.get_room_state(room, [("m.room.create", "")])
        except Exception:
            return True  # not a room this server holds: it lives elsewhere
        create = state.get(("m.room.create", ""))
        return create is None or create.content.get("m.federate", True) is not False

    async def _get(self, question: str, args: dict[str, str]) -> dict[str, Any] | None:
        try:
            answer = await self._api.http_client.get_json(
                self._base + question,
                args=args,
                headers={b"Authorization": [f"Bearer {self._token}".encode()]},
            )
        except Exception as e:
            log.warning("%s check failed: %s", question, type(e).__name__)
            return None
        return answer if isinstance(answer, dict) else None

    async def _ask(self, question: str, args: dict[str, str], federates: bool) -> Any:
        answer = await self._get(question, {**args, "federates": "1" if federates else "0"})
        if answer is None:
            return (Codes.FORBIDDEN, {"error": UNAVAILABLE})
        if answer.get("allowed"):
            return NOT_SPAM
        return (Codes.FORBIDDEN, {"error": str(answer.get("reason", "")) or "forbidden"})
