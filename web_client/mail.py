"""Where password-reset messages go: pluggable senders chosen by configuration.

``file`` (the default) writes each message as a ``.eml`` file into the state
folder's ``outbox/`` — what the demo and the tests read; ``console`` logs that a
message was written (never its link: it holds a token); ``smtp`` hands it to a
mail server with STARTTLS.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from kernel.config import MailConfig
from kernel.secrets import read_secret_file
from web_client.errors import MailError

logger = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class FileSender:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(self, message: EmailMessage) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.outbox / f"{secrets.token_hex(8)}.eml"
        try:
            path.write_bytes(bytes(message))
        except OSError as e:
            raise MailError(f"cannot write {path}: {e.strerror}") from e
        path.chmod(0o600)


class ConsoleSender:
    def send(self, message: EmailMessage) -> None:
        logger.info("message to %s: %s", message["To"], message["Subject"])


class SmtpSender:
    def __init__(self, config: MailConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        c = self.config
        try:
            with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=20) as smtp:
                if c.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.smtp_user and c.smtp_password_file:
                    smtp.login(c.smtp_user, read_secret_file(c.smtp_password_file))
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as e:
            raise MailError(f"the mail server {c.smtp_host}:{c.smtp_port} refused: {e}") from e


def make_sender(config: MailConfig, state_dir: Path) -> Sender:
    if config.kind == "smtp":
        return SmtpSender(config)
    if config.kind == "console":
        return ConsoleSender()
    return FileSender(state_dir / "outbox")


def reset_message(sender: str, to: str, name: str, link: str, minutes: int) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = "Восстановление пароля в электронном дневнике"
    message.set_content(
        f"Здравствуйте, {name}!\n\n"
        "Чтобы задать новый пароль, откройте ссылку:\n"
        f"{link}\n\n"
        f"Ссылка действует {minutes} минут и только один раз. "
        "Если вы не просили восстановить пароль, просто удалите это письмо.\n"
    )
    return message
