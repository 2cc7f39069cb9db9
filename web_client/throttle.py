"""How long someone must wait before trying to sign in again, or asking for another reset
mail. Pure: counts and times in, a wait out.

::

    the account (resolved from whatever was typed: login, phone in any spelling, e-mail)
      × the address it came from   ─▶ back-off: ``free`` failures, then 1 min, 2, 4 … up to
                                      the cap, counted from the last failure — another
                                      address's failures never lock this one out
      × a browser it signed in from ─▶ the same back-off, counted apart (``parta_known``):
                                      a classmate behind the school's one address, or
                                      guesses from anywhere, never hold the person back
      across every address          ─▶ the same back-off at ``SPREAD`` times the failures:
                                      a password guessed from many addresses (any browser
                                      but the person's known ones waits)
    the address alone               ─▶ slowed, never locked: past its limit, one attempt
                                      every ``SPACING`` (a school behind one NAT, or a
                                      stranger with a list of names, goes on at that pace)
    a Matrix login                  ─▶ the account × "matrix", and across every address
                                      (Synapse's password module gives no client address:
                                      Synapse's own ``rc_login`` limits each address)
    «Забыли пароль?»                ─▶ a few mails per account and per address an hour
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_WAIT = timedelta(minutes=1)
SPREAD = 10
"""An account's failures from all addresses may be this many times one address's."""
ADDRESS_FACTOR = 20
"""An address may be a whole school behind one NAT: this many times one account's failures."""
SPACING = timedelta(seconds=10)
WINDOW = timedelta(hours=24)
"""Failures older than this are forgotten."""
MAILS_PER_ACCOUNT = 3
MAILS_PER_ADDRESS = 10
MAIL_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Tally:
    """Failures of one key inside the window, and the latest of them."""

    count: int
    latest: datetime | None


def backoff(tally: Tally, free: int, cap: timedelta, now: datetime) -> timedelta:
    """After ``free`` failures: ``FIRST_WAIT``, doubling with each further one, up to ``cap``,
    from the latest failure. Zero when the wait is over."""
    if tally.count < free or tally.latest is None:
        return timedelta(0)
    doublings = min(tally.count - free, 20)
    wait: timedelta = min(cap, FIRST_WAIT * (2**doublings))
    return max(timedelta(0), tally.latest + wait - now)


def slowdown(tally: Tally, limit: int, now: datetime) -> timedelta:
    """Past ``limit`` failures, an address waits ``SPACING`` after each failure."""
    if tally.count < limit or tally.latest is None:
        return timedelta(0)
    return max(timedelta(0), tally.latest + SPACING - now)


def minutes(wait: timedelta) -> int:
    """Whole minutes, rounded up, at least one."""
    return max(1, -(-int(wait.total_seconds()) // 60))


def seconds(wait: timedelta) -> int:
    return max(1, -(-int(wait.total_seconds()) // 1))
