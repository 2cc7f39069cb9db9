"""Errors of the homeserver package: one base, typed subclasses that say whether to retry.

``transient`` is the caller's hint: a timeout or an unreachable database may pass by
itself; bad settings or a Synapse that exits on start will not.
"""

from __future__ import annotations

from typing import ClassVar


class HomeserverError(Exception):
    """Base of every error raised by :mod:`homeserver`."""

    transient: ClassVar[bool] = False


class SettingsError(HomeserverError, ValueError):
    """A setting is invalid; ``field`` names it so the message can point at the config key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RenderError(HomeserverError):
    """The rendered configuration is not what Synapse can read (a template bug)."""


class SynapseStartError(HomeserverError):
    """Synapse did not become ready; ``log_tail`` holds the end of its logs for the report."""

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(f"{message}\n--- last lines of the Synapse logs ---\n{log_tail}")
        self.log_tail = log_tail


class SynapseExited(SynapseStartError):
    """The Synapse process ended before it was ready (usually a configuration error)."""

    def __init__(self, returncode: int, log_tail: str) -> None:
        super().__init__(f"Synapse exited with status {returncode} before it was ready", log_tail)
        self.returncode = returncode


class SynapseNotReady(SynapseStartError):
    """Synapse still runs but did not answer its readiness checks in time."""

    transient = True

    def __init__(self, timeout: float, log_tail: str) -> None:
        super().__init__(f"Synapse was not ready within {timeout:g} s", log_tail)
        self.timeout = timeout


class DatabaseError(HomeserverError):
    """Preparing Synapse's PostgreSQL database failed."""


class DatabaseUnreachable(DatabaseError):
    """PostgreSQL did not accept the connection."""

    transient = True


class DatabaseLocaleError(DatabaseError):
    """The database exists with a collation Synapse refuses (it needs ``C``)."""

    def __init__(self, dbname: str, collate: str, ctype: str) -> None:
        super().__init__(
            f"database {dbname!r} has LC_COLLATE={collate!r} LC_CTYPE={ctype!r}; "
            "Synapse needs 'C' for both: drop it or let ensure_database create it"
        )
        self.dbname = dbname
