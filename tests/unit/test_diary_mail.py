"""Password-reset messages reach the configured sender: a file outbox or a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from kernel.config import MailConfig
from tests.ports import free_port
from web_client.errors import MailError
from web_client.mail import FileSender, SmtpSender, make_sender, reset_message

MESSAGE = reset_message("diary@school.test", "mama@home.test", "Елена", "http://d/reset/t", 60)


class Inbox(Sink):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.received.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_the_default_sender_writes_private_files_into_the_outbox(tmp_path: Path) -> None:
    sender = make_sender(MailConfig(), tmp_path)
    assert isinstance(sender, FileSender)
    sender.send(MESSAGE)
    (written,) = (tmp_path / "outbox").glob("*.eml")
    assert written.stat().st_mode & 0o777 == 0o600
    read = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert read["To"] == "mama@home.test"
    assert "http://d/reset/t" in str(read.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_smtp_hands_the_message_to_a_mail_server(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    sender = make_sender(
        MailConfig(kind="smtp", smtp_port=port, smtp_starttls=False), Path("/nonexistent")
    )
    assert isinstance(sender, SmtpSender)
    sender.send(MESSAGE)
    (raw,) = inbox.received
    assert b"mama@home.test" in raw
    assert "Восстановление пароля" in str(message_from_bytes(raw, policy=policy.default)["Subject"])


def test_an_unreachable_mail_server_is_a_clear_error() -> None:
    sender = SmtpSender(MailConfig(kind="smtp", smtp_port=free_port(), smtp_starttls=False))
    with pytest.raises(MailError, match="refused"):
        sender.send(MESSAGE)
