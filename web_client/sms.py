"""Where password-reset SMS go: pluggable senders chosen by configuration (``diary.sms``).

Most parents have a phone in the roster and no e-mail: «Забыли пароль?» with the phone sends
the reset link by SMS. ``file`` (the default) writes each SMS into the state folder's
``sms-outbox/`` — what the demo and the tests read; ``console`` logs that an SMS went (never its
text: it holds a token); ``http`` posts ``{"to", "text"}`` to the region's SMS gateway with a
bearer token read from a file. The limits are the reset mails' (per account and per address).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from kernel.config import SmsConfig
from kernel.secrets import read_secret_file
from web_client.errors import MailError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    to: str
    text: str


class SmsSender(Protocol):
    async def send(self, sms: Sms) -> None: ...


class FileSms:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, sms: Sms) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.outbox / f"{secrets.token_hex(8)}.json"
        try:
            path.write_text(json.dumps(sms.__dict__, ensure_ascii=False), encoding="utf-8")
        except OSError as e:
            raise MailError(f"cannot write {path}: {e.strerror}") from e
        path.chmod(0o600)


class ConsoleSms:
    async def send(self, sms: Sms) -> None:
        logger.info("SMS to %s…%s", sms.to[:4], sms.to[-2:])


class HttpSms:
    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    async def send(self, sms: Sms) -> None:
        c = self.config
        token = read_secret_file(c.token_file) if c.token_file else ""
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                answer = await http.post(
                    c.url,
                    json={"to": sms.to, "text": sms.text, "sender": c.sender},
                    headers={"Authorization": f"Bearer {token}"} if token else None,
                )
        except httpx.HTTPError as e:
            raise MailError(f"the SMS gateway did not answer: {type(e).__name__}") from e
        if answer.status_code >= 300:
            raise MailError(f"the SMS gateway refused: {answer.status_code}")


def make_sms_sender(config: SmsConfig, state_dir: Path) -> SmsSender:
    if config.kind == "http":
        return HttpSms(config)
    if config.kind == "console":
        return ConsoleSms()
    return FileSms(state_dir / "sms-outbox")


def reset_sms(link: str, minutes: int) -> Sms:
    """The text only; the caller names the phone."""
    return Sms("", f"Дневник: новый пароль по ссылке (действует {minutes} мин): {link}")
