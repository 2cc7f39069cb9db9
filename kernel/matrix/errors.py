"""Matrix errors as types: one errcode, one class (as mautrix does), carrying their data.

``transient`` says whether the same request may succeed later (a rate limit, a homeserver
that is restarting); the client retries those, callers decide about the rest.
"""

from __future__ import annotations


class MatrixFailure(Exception):
    """Anything that kept a request from getting a Matrix answer."""

    transient = False


class MatrixError(MatrixFailure):
    """The homeserver answered with an error (``errcode``), or with an HTTP failure."""

    def __init__(self, status: int, errcode: str, message: str, path: str) -> None:
        super().__init__(f"{path}: {status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message
        self.path = path

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return self.status >= 500 or self.status == 429


class UserInUse(MatrixError):
    """M_USER_IN_USE: the account is already registered (for a puppet: done)."""


class RoomInUse(MatrixError):
    """M_ROOM_IN_USE: the alias is taken (an earlier run created the room)."""


class Forbidden(MatrixError):
    """M_FORBIDDEN: the homeserver, or the school's policy module, refused; ``message`` says
    why in the words the person should read."""


class NotFound(MatrixError):
    """M_NOT_FOUND, or a 404 without an errcode."""


class UnknownToken(MatrixError):
    """M_UNKNOWN_TOKEN / M_MISSING_TOKEN: the access token is not (or no longer) valid."""


class CannotGrantJoinYet(MatrixError):
    """M_UNABLE_TO_GRANT_JOIN: a restricted room's join needs a local member who may invite.
    Right after the room is made, a Synapse worker may not see that member yet (replication):
    the same join succeeds a moment later, so it is worth trying again."""

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return True


class LimitExceeded(MatrixError):
    def __init__(
        self, status: int, errcode: str, message: str, path: str, retry_after_ms: int
    ) -> None:
        super().__init__(status, errcode, message, path)
        self.retry_after_ms = retry_after_ms


class HomeserverUnreachable(MatrixFailure):
    """No answer at all (connection refused or reset, timeout)."""

    transient = True


_BY_ERRCODE: dict[str, type[MatrixError]] = {
    "M_USER_IN_USE": UserInUse,
    "M_ROOM_IN_USE": RoomInUse,
    "M_FORBIDDEN": Forbidden,
    "M_NOT_FOUND": NotFound,
    "M_UNKNOWN_TOKEN": UnknownToken,
    "M_MISSING_TOKEN": UnknownToken,
    "M_UNABLE_TO_GRANT_JOIN": CannotGrantJoinYet,
}


def matrix_error(status: int, body: object, path: str) -> MatrixError:
    data = body if isinstance(body, dict) else {}
    errcode = str(data.get("errcode", "")) or ("M_NOT_FOUND" if status == 404 else "M_UNKNOWN")
    message = str(data.get("error", ""))
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        retry = data.get("retry_after_ms", 1000)
        return LimitExceeded(
            status, errcode, message, path, retry if isinstance(retry, int) else 1000
        )
    found = _BY_ERRCODE.get(errcode) or (NotFound if status == 404 else MatrixError)
    return found(status, errcode, message, path)  # a 404 is "not found" whatever its errcode
