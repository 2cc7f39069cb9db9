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

from kernel.contracts.diary import CHECK_PASSWORD_PATH, PasswordCheck, PasswordChecked

log = logging.getLogger(__name__)


class DiaryPassword:
    def __init__(self, config: dict[str, Any], api: ModuleApi) -> None:
        self._api = api
        self._url = str(config["diary_url"]).rstrip("/") + CHECK_PASSWORD_PATH
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
        password = str(login_dict.get("password", ""))
        if username.startswith("@"):
            return await self._ask(PasswordCheck(user_id=username, password=password))
        return await self._ask(PasswordCheck(login=username, password=password))

    async def check_3pid(self, medium: str, address: str, password: str) -> tuple[str, None] | None:
        if medium == "msisdn":
            return await self._ask(PasswordCheck(login=f"+{address}", password=password))
        if medium == "email":
            return await self._ask(PasswordCheck(login=address, password=password))
        return None

    async def _ask(self, question: PasswordCheck) -> tuple[str, None] | None:
        try:
            answer = await self._api.http_client.post_json_get_json(
                self._url,
                question.model_dump(),
                headers={b"Authorization": [f"Bearer {self._token}".encode()]},
            )
            return (PasswordChecked.model_validate(answer).user_id, None)
        except Exception as e:  # a refusal is a 403; anything else fails closed too
            log.info("the diary refused or did not answer a password check: %s", type(e).__name__)
            return None
