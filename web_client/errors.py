"""The diary's errors: one base, subclasses that say whether retrying can help."""

from __future__ import annotations


class DiaryError(Exception):
    transient = False


class MailError(DiaryError):
    """A message could not be handed to the configured sender."""

    transient = True


class LinkError(DiaryError):
    """The appservice refused or could not link a profile; ``reason`` is shown to the person."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
