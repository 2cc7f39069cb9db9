"""Phone (or login) and password from any Matrix client, checked by the school diary.

A Synapse password-auth-provider module (AGPL-3.0-or-later, like Synapse). The
diary holds the one password a person has (Argon2id, rate-limited); Synapse
holds none for diary accounts. The module asks the diary and fails closed.

::

    client ──m.login.password {m.id.phone | m.id.user}──▶ Synapse ──▶ this module
        ──POST diary /_parta/v1/check-password {login | user_id, password}──▶ {user_id}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from synapse.module_api import ModuleApi

log = logging.getLogger(__name__)


class DiaryPassword:
    def __init__(self, config: dict[str, Any], api: ModuleApi) -> None:
        self._api = api
        self._url = str(config["diary_url"]).rstrip("/") + "/_parta/v1/check-password"
        self._token = Path(config["token_file"]).read_text(encoding="utf-8").strip()
        api.register_password_auth_provider_callbacks(
            auth_checkers={("m.login.password", ("password",)): self.check_password},
            check_3pid_auth=self.check_3pid,
        )

    @staticmethod
    def parse_config(config: dict[str, Any]) -> dict[str, Any]:
        for key in ("diary_url", "token_file"):
            if not config.get(key):
                raise ValueError(f"parta diary password: '{key}' is required")
        return config

    async def check_password(
        self, username: str, login_type: str, login_dict: dict[str, Any]
    ) -> tuple[str, None] | None:
        key = "user_id" if username.startswith("@") else "login"
        return await self._ask({key: username, "password": login_dict.get("password", "")})

    async def check_3pid(self, medium: str, address: str, password: str) -> tuple[str, None] | None:
        if medium == "msisdn":
            return await self._ask({"login": f"+{address}", "password": password})
        if medium == "email":
            return await self._ask({"login": address, "password": password})
        return None

    async def _ask(self, body: dict[str, Any]) -> tuple[str, None] | None:
        try:
            answer = await self._api.http_client.post_json_get_json(
                self._url,
                body,
                headers={b"Authorization": [f"Bearer {self._token}".encode()]},
            )
        except Exception as e:  # a refusal is a 403; anything else fails closed too
            log.info("the diary refused or did not answer a password check: %s", type(e).__name__)
            return None
        user_id = answer.get("user_id") if isinstance(answer, dict) else None
        return (str(user_id), None) if user_id else None
