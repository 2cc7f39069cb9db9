"""Errors of the appservice package: one base, typed subclasses that carry data.

Failures of the homeserver are :mod:`kernel.matrix`'s (``MatrixFailure`` and its errcode
types); :data:`SYNC_FAILURES` is what a run reports rather than crashes on.
``transient`` says whether retrying the same request later may succeed.
"""

from __future__ import annotations

from kernel.db import StoreError
from kernel.matrix import MatrixFailure


class AppserviceError(Exception):
    transient = False


class RoomMissing(AppserviceError):
    """An action needs a room that an earlier, failed action should have created."""


class NoAdminAccess(AppserviceError):
    """Deactivating an account needs the homeserver's admin API, and this run has none."""


SYNC_FAILURES = (AppserviceError, MatrixFailure, StoreError)
"""An action that failed for one of these is reported with its reason; the run goes on."""
