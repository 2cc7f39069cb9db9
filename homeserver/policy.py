"""School policy, loaded into Synapse as a module (AGPL-3.0-or-later, like Synapse).

A room the diary manages admits exactly the people the diary puts in it, whoever
invites them (class rooms are restricted to the school space, and every school member
is in the space, so without this any student could join any class's chat). Any other
room follows safe mode's room rule: every member of a room that holds a student is
within that student's circle — checked on every invite and every join, for every
student in the room, whoever asks (a person, a bot, an invite link); a room with a
student never federates and is never open; students create no group rooms unless the
school allows it; the user directory shows a student only her circle. The appservice
owns the answers — it knows the roles from the diary — the module asks and fails closed.

::

    invite, join ──▶ POST may_enter {room, user, inviter, federates, open}
                       diary room ──▶ its members only
                       other room ──▶ {members_needed} ──▶ again with the room's members
    create ────────▶ POST may_create_room ──▶ refused, or kept local if a student is in it
    open a room ───▶ POST may_open {members}   (join rule public or knock, world-readable)
    directory ─────▶ POST may_see {viewer, user}

The contract is :mod:`kernel.contracts.policy`, imported by both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from synapse.module_api import NOT_SPAM, ModuleApi, Requester, UserProfile
from synapse.module_api.errors import Codes, SynapseError

from kernel.contracts.policy import (
    CREATE_PATH,
    ENTER_PATH,
    OPEN_PATH,
    SEE_PATH,
    Answer,
    CreateQuestion,
    EnterQuestion,
    OpenQuestion,
    SeeQuestion,
    report_event,
)

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "Проверка доступа к чату временно недоступна, попробуйте позже "
    "(the school's access check is unavailable; try again later)"
)


OPENING = {
    "m.room.join_rules": ("join_rule", {"public", "knock", "knock_restricted"}),
    "m.room.history_visibility": ("history_visibility", {"world_readable"}),
}
"""State that lets people in, or lets them read, without an invitation. (Guest access is
not here: the homeserver registers no guests, ``allow_guest_access: false``, and the
``private_chat`` preset sets ``can_join`` in every private room.)"""

_FACTS = [(kind, "") for kind in ("m.room.create", *OPENING)]


def opens(event_type: str, content: Mapping[str, Any]) -> bool:
    field, values = OPENING.get(event_type, ("", set()))
    return bool(field) and content.get(field) in values


def opens_on_creation(config: Mapping[str, Any]) -> bool:
    """What ``createRoom`` asks for: a public preset (the default for a public
    visibility), or opening state among its ``initial_state``."""
    preset = config.get("preset") or (
        "public_chat" if config.get("visibility") == "public" else "private_chat"
    )
    if preset == "public_chat" or config.get("visibility") == "public":
        return True
    state = config.get("initial_state")
    return any(
        isinstance(e, dict) and opens(str(e.get("type")), e.get("content") or {})
        for e in (state if isinstance(state, list) else [])
    )


class SchoolPolicy:
    def __init__(self, config: dict[str, Any], api: ModuleApi) -> None:
        self._api = api
        self._token = Path(config["token_file"]).read_text(encoding="utf-8").strip()
        self._base = str(config["appservice_url"]).rstrip("/")
        api.register_spam_checker_callbacks(
            user_may_join_room=self.user_may_join_room,
            user_may_invite=self.user_may_invite,
            user_may_send_state_event=self.user_may_send_state_event,
            check_username_for_spam=self.check_username_for_spam,
        )
        api.register_third_party_rules_callbacks(on_create_room=self.on_create_room)
        self._reported_after = 0
        """The last report handed on; from 0 after a restart (the appservice keeps each once)."""
        api.looping_background_call(
            self._forward_reports, REPORTS_EVERY_MS, desc="parta_forward_reports"
        )

    async def _forward_reports(self) -> None:
        """New reports of messages, to the appservice (and so to the school's moderators)."""
        rows = await self._api.run_db_interaction(
            "parta_new_reports", _new_reports, self._reported_after
        )
        for report_id, received_ts, room, event, reporter, reason in rows:
            body = {
                "events": [
                    report_event(report_id, received_ts, room, event, reporter, reason or "")
                ]
            }
            try:
                await self._api.http_client.put_json(
                    f"{self._base}/_matrix/app/v1/transactions/parta-report-{report_id}",
                    body,
                    headers={b"Authorization": [f"Bearer {self._token}".encode()]},
                )
            except Exception as e:
                log.warning("report %s not handed on yet: %s", report_id, type(e).__name__)
                return  # tried again at the next round, in order
            self._reported_after = report_id

    @staticmethod
    def parse_config(config: dict[str, Any]) -> dict[str, Any]:
        for key in ("appservice_url", "token_file"):
            if not config.get(key):
                raise ValueError(f"parta school policy: '{key}' is required")
        return config

    async def user_may_join_room(
        self, user: str, room: str, is_invited: bool
    ) -> Any:  # NOT_SPAM | (Codes, dict): Synapse's own union
        return await self._enter(room, user, None)

    async def user_may_invite(self, inviter: str, invitee: str, room: str) -> Any:
        return await self._enter(room, invitee, inviter)

    async def user_may_send_state_event(
        self, user: str, room: str, event_type: str, state_key: str, content: dict[str, Any]
    ) -> Any:
        if not opens(event_type, content):
            return NOT_SPAM
        answer = await self._ask(OPEN_PATH, OpenQuestion(members=await self._members(room)))
        if answer is None or not answer.allowed:
            # This callback may only return a bare errcode, and the person should read why:
            # Synapse passes a SynapseError raised here on to the client as it is.
            raise SynapseError(403, answer.reason if answer else UNAVAILABLE, Codes.FORBIDDEN)
        return NOT_SPAM

    async def check_username_for_spam(self, profile: UserProfile, requester: str) -> bool:
        """True hides the person from ``requester``'s user directory search."""
        question = SeeQuestion(viewer=requester, user_id=str(profile.get("user_id", "")))
        answer = await self._ask(SEE_PATH, question)
        return answer is None or not answer.allowed

    async def on_create_room(
        self, requester: Requester, config: dict[str, Any], is_requester_admin: bool
    ) -> None:
        """Refuse, or keep a room with a student in it on this server (``m.federate: false``)."""
        levels = config.get("power_level_content_override")
        default = levels.get("users_default", 0) if isinstance(levels, dict) else 0
        question = CreateQuestion(
            user_id=requester.user.to_string(),
            direct=bool(config.get("is_direct")),
            invitees=[str(i) for i in config.get("invite", []) if isinstance(i, str)],
            open=opens_on_creation(config),
            users_default=default if isinstance(default, int) else 0,
        )
        answer = await self._ask(CREATE_PATH, question)
        if answer is None:
            raise SynapseError(403, UNAVAILABLE, Codes.FORBIDDEN)
        if not answer.allowed:
            raise SynapseError(403, answer.reason or "forbidden", Codes.FORBIDDEN)
        if answer.local_only:
            content = config.setdefault("creation_content", {})
            if isinstance(content, dict):
                content["m.federate"] = False

    async def _enter(self, room: str, user: str, inviter: str | None) -> Any:
        federates, is_open = await self._facts(room)
        question = EnterQuestion(
            room_id=room, user_id=user, inviter=inviter, federates=federates, open=is_open
        )
        answer = await self._ask(ENTER_PATH, question)
        if answer is not None and answer.members_needed:
            asked = question.model_copy(update={"members": await self._members(room)})
            answer = await self._ask(ENTER_PATH, asked)
        return _verdict(answer)

    async def _facts(self, room: str) -> tuple[bool, bool]:
        """Whether the room federates (unless its create event says ``m.federate: false``),
        and whether it is open to people without an invitation."""
        try:
            state = await self._api.get_room_state(room, _FACTS)
        except Exception:
            return True, False  # not a room this server holds: it lives elsewhere
        create = state.get(("m.room.create", ""))
        federates = create is None or create.content.get("m.federate", True) is not False
        is_open = any(
            opens(kind, event.content) for (kind, _), event in state.items() if kind in OPENING
        )
        return federates, is_open

    async def _members(self, room: str) -> list[str]:
        """Joined or invited now (a room another server holds: none known here)."""
        try:
            state = await self._api.get_room_state(room, [("m.room.member", None)])
        except Exception:
            return []
        return sorted(
            key
            for (kind, key), event in state.items()
            if kind == "m.room.member" and event.content.get("membership") in ("join", "invite")
        )

    async def _ask(self, path: str, question: BaseModel) -> Answer | None:
        try:
            answer = await self._api.http_client.post_json_get_json(
                self._base + path,
                question.model_dump(),
                headers={b"Authorization": [f"Bearer {self._token}".encode()]},
            )
            return Answer.model_validate(answer)
        except Exception as e:
            log.warning("%s check failed: %s", path, type(e).__name__)
            return None


REPORTS_EVERY_MS = 2000


def _new_reports(txn: Any, after: int) -> list[tuple[int, int, str, str, str, str | None]]:
    """Synapse's own table of reports (``POST /rooms/{room}/report/{event}``): there is no
    module callback for a report, and this table has kept its shape since Synapse 0.x."""
    txn.execute(
        "SELECT id, received_ts, room_id, event_id, user_id, reason FROM event_reports"
        " WHERE id > ? ORDER BY id LIMIT 50",
        (after,),
    )
    return [tuple(row) for row in txn.fetchall()]


def _verdict(answer: Answer | None) -> Any:
    if answer is None:
        return (Codes.FORBIDDEN, {"error": UNAVAILABLE})
    if answer.allowed:
        return NOT_SPAM
    return (Codes.FORBIDDEN, {"error": answer.reason or "forbidden"})
