"""The one Matrix client-server client of parta (see :mod:`kernel.matrix.client`)."""

from kernel.matrix.client import JsonDict, MatrixClient
from kernel.matrix.errors import (
    Forbidden,
    HomeserverUnreachable,
    LimitExceeded,
    MatrixError,
    MatrixFailure,
    NotFound,
    RoomInUse,
    UnknownToken,
    UserInUse,
)
from kernel.matrix.power import PowerLevels

__all__ = [
    "Forbidden",
    "HomeserverUnreachable",
    "JsonDict",
    "LimitExceeded",
    "MatrixClient",
    "MatrixError",
    "MatrixFailure",
    "NotFound",
    "PowerLevels",
    "RoomInUse",
    "UnknownToken",
    "UserInUse",
]
