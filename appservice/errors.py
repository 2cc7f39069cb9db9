"""Errors of the appservice package: one base, typed subclasses that carry data.

``transient`` says whether retrying the same request later may succeed.
"""

from __future__ import annotations


class AppserviceError(Exception):
    transient = False


class MatrixError(AppserviceError):
    """A homeserver answered with a Matrix error (``errcode``) or an HTTP failure."""

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
    """M_USER_IN_USE: the puppet is already registered (which means done)."""


class RoomInUse(MatrixError):
    """M_ROOM_IN_USE: the alias is taken (a previous run created the room)."""


class Forbidden(MatrixError):
    """M_FORBIDDEN: the homeserver (or the school policy module) refused."""


class NotFound(MatrixError):
    """M_NOT_FOUND, or a 404 with no errcode."""


class LimitExceeded(MatrixError):
    def __init__(
        self, status: int, errcode: str, message: str, path: str, retry_after_ms: int
    ) -> None:
        super().__init__(status, errcode, message, path)
        self.retry_after_ms = retry_after_ms


class HomeserverUnreachable(AppserviceError):
    transient = True


class RoomMissing(AppserviceError):
    """An action needs a room that an earlier, failed action should have created."""


class StoreError(AppserviceError):
    """The state store cannot be opened or holds something unexpected."""


_BY_ERRCODE: dict[str, type[MatrixError]] = {
    "M_USER_IN_USE": UserInUse,
    "M_ROOM_IN_USE": RoomInUse,
    "M_FORBIDDEN": Forbidden,
    "M_NOT_FOUND": NotFound,
}


def matrix_error(status: int, body: object, path: str) -> MatrixError:
    data = body if isinstance(body, dict) else {}
    errcode = str(data.get("errcode", "")) or ("M_NOT_FOUND" if status == 404 else "M_UNKNOWN")
    message = str(data.get("error", ""))
    if errcode == "M_LIMIT_EXCEEDED":
        retry = int(data.get("retry_after_ms", 1000))
        return LimitExceeded(status, errcode, message, path, retry)
    return _BY_ERRCODE.get(errcode, MatrixError)(status, errcode, message, path)
