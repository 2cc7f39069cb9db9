"""Signing in: Argon2id password hashes, signed session cookies, CSRF, a login rate limit.

    «Войти» ─► find account (login, phone or e-mail) ─► throttled? (:mod:`throttle`)
            ─► argon2 verify ─► session token (random, stored as a digest; the cookie
            is it, signed) + the browser is «known» to that account (``parta_known``)

A browser the account signed in from before counts its failures apart: however many
other addresses (or a classmate behind the same school address) get the password
wrong, the person goes on signing in there.

A session cookie is ``token.signature``: a forged or altered cookie is refused by
its signature before the store is asked; an expired or signed-out one is refused
by the store. CSRF uses a signed double submit: a random ``parta_csrf`` cookie and
a form field carrying that value signed, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, BadSignature, Signer, URLSafeSerializer

from kernel.config import DiaryConfig
from kernel.ids import SourcedId
from web_client.metrics import LOGINS
from web_client.store import DiaryStore
from web_client.throttle import (
    ADDRESS_FACTOR,
    MAIL_WINDOW,
    MAILS_PER_ACCOUNT,
    MAILS_PER_ADDRESS,
    SPREAD,
    WINDOW,
    Tally,
    backoff,
    minutes,
    seconds,
    slowdown,
)

SESSION_COOKIE = "parta_session"
CSRF_COOKIE = "parta_csrf"
KNOWN_COOKIE = "parta_known"
KNOWN_DAYS = 365
KNOWN_ACCOUNTS = 4
"""A family's shared tablet: a parent and the children."""
MIN_PASSWORD = 8
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I: a code is typed from paper."""
CODE_LENGTH = 12


def normal_code(typed: str) -> str:
    """The code as stored, however it was typed: «abcd-efgh ijkl» is ABCDEFGHIJKL."""
    return "".join(c for c in typed.upper() if c in CODE_ALPHABET)


def shown_code(code: str) -> str:
    """In groups of four, as the letter prints it."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in was refused, in the words shown to the person."""

    message: str
    retry_after: int | None = None
    """Seconds, when the refusal is only «not so fast» (HTTP 429)."""


@dataclass(frozen=True)
class _Keys:
    """What one sign-in counts against (:mod:`web_client.throttle`)."""

    here: str
    """The account (or the typed name) from this address, from its known browsers, or as a
    Matrix login."""
    everywhere: str
    address: str | None
    known: bool
    """A browser the account signed in from: others' failures do not hold it back."""

    def all(self) -> list[str]:
        return [k for k in (self.here, self.everywhere, self.address) if k is not None]


@dataclass(frozen=True)
class Session:
    cookie: str
    max_age: int | None
    """Seconds for «Остаться в системе»; ``None`` ends with the browser."""


class Auth:
    def __init__(
        self,
        store: DiaryStore,
        secret_key: str,
        config: DiaryConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._store, self._config, self._now = store, config, clock
        self._hasher = PasswordHasher()
        self._sessions = Signer(secret_key, salt="parta.session")
        self._csrf = Signer(secret_key, salt="parta.csrf")
        self._known = URLSafeSerializer(secret_key, salt="parta.known")
        self._known_key = secret_key.encode()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    # -- passwords --------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def sign_in(
        self, name: str, password: str, address: str | None, known: str | None = None
    ) -> SourcedId | Refusal:
        """``address`` is the client's (behind the configured proxy, the real one); ``None``
        for a Matrix login, which Synapse rate-limits by address itself. ``known`` is the
        browser's ``parta_known`` cookie."""
        account = self._store.find_account(name) if name.strip() else None
        who = f"acct:{account.person_id}" if account else f"name:{' '.join(name.lower().split())}"
        mine = account is not None and self._mark(account.person_id) in self._known_marks(known)
        place = "known" if mine else address or "matrix"
        keys = _Keys(f"{who}@{place}", who, f"addr:{address}" if address else None, mine)
        via = "diary" if address is not None else "matrix"
        refused = self._wait(keys)
        if refused is not None:
            LOGINS.labels(via, "throttled").inc()
            return refused
        stored = account.password_hash if account and account.password_hash else self._dummy
        if not self._verify(stored, password) or account is None or not account.password_hash:
            self._store.note_failure(keys.all(), self._now())
            LOGINS.labels(via, "wrong").inc()
            return Refusal("Неверный логин или пароль")
        self._store.clear_failures(keys.here)
        LOGINS.labels(via, "ok").inc()
        if self._hasher.check_needs_rehash(account.password_hash):
            self._store.set_password_hash(account.person_id, self.hash_password(password))
        return account.person_id

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _wait(self, keys: _Keys) -> Refusal | None:
        now, attempts = self._now(), self._config.login_attempts
        cap = timedelta(minutes=self._config.lockout_minutes)
        if keys.address is not None:
            since = now - timedelta(minutes=self._config.lockout_minutes)
            slow = slowdown(self._tally(keys.address, since), attempts * ADDRESS_FACTOR, now)
            if slow:
                return Refusal(
                    "Слишком много попыток входа с вашего адреса. "
                    f"Подождите {seconds(slow)} с и попробуйте снова.",
                    retry_after=seconds(slow),
                )
        since = now - WINDOW
        wait = backoff(self._tally(keys.here, since), attempts, cap, now)
        if not keys.known:
            spread = self._tally(keys.everywhere, since)
            wait = max(wait, backoff(spread, attempts * SPREAD, cap, now))
        if wait:
            return Refusal(
                "Слишком много неудачных попыток входа. "
                f"Попробуйте снова через {minutes(wait)} мин."
            )
        return None

    def _tally(self, key: str, since: datetime) -> Tally:
        return Tally(*self._store.failure_tally(key, since))

    # -- known browsers ------------------------------------------------------------------

    def known_cookie(self, person: SourcedId, known: str | None) -> str:
        """The ``parta_known`` cookie once ``person`` has signed in in this browser: keyed
        marks of the last few accounts (no ids in it), signed."""
        marks = [m for m in self._known_marks(known) if m != self._mark(person)]
        return self._known.dumps([self._mark(person), *marks][:KNOWN_ACCOUNTS])

    def _known_marks(self, cookie: str | None) -> list[str]:
        if not cookie:
            return []
        try:
            marks = self._known.loads(cookie)
        except BadData:
            return []
        return [m for m in marks if isinstance(m, str)] if isinstance(marks, list) else []

    def _mark(self, person: SourcedId) -> str:
        mark = hmac.new(self._known_key, b"parta.known:" + person.encode(), hashlib.sha256)
        return mark.hexdigest()[:16]

    # -- sessions ---------------------------------------------------------------------

    def open_session(self, person: SourcedId, remember: bool) -> Session:
        token = secrets.token_urlsafe(32)
        if remember:
            lifetime = timedelta(days=self._config.remembered_days)
        else:
            lifetime = timedelta(hours=self._config.session_hours)
        self._store.add_session(token, person, self._now() + lifetime)
        cookie = self._sessions.sign(token).decode()
        return Session(cookie, int(lifetime.total_seconds()) if remember else None)

    def session_person(self, cookie: str | None) -> SourcedId | None:
        token = self._token(cookie)
        return None if token is None else self._store.session_person(token, self._now())

    def close_session(self, cookie: str | None) -> None:
        token = self._token(cookie)
        if token is not None:
            self._store.drop_session(token)

    def _token(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return self._sessions.unsign(cookie).decode()
        except BadSignature:
            return None

    # -- CSRF ---------------------------------------------------------------------------

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_field(self, cookie: str) -> str:
        return self._csrf.sign(cookie).decode()

    def csrf_ok(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field:
            return False
        try:
            value = self._csrf.unsign(field).decode()
        except BadSignature:
            return False
        return hmac.compare_digest(value.encode(), cookie.encode())

    # -- access letters -----------------------------------------------------------------

    def new_activation(self, person: SourcedId) -> str:
        """A letter's code (the person's earlier codes stop working): easy to type, ~60 bits."""
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        expires = self._now() + timedelta(days=self._config.activation_days)
        self._store.add_activation(code, person, expires)
        return code

    def activation_target(self, code: str, address: str) -> SourcedId | Refusal:
        """Whose letter this is; every wrong code counts against the address."""
        since = self._now() - timedelta(minutes=self._config.lockout_minutes)
        key = f"activation:{address}"
        slow = slowdown(self._tally(key, since), self._config.login_attempts, self._now())
        if slow:
            return Refusal(
                f"Слишком много неверных кодов. Подождите {seconds(slow)} с.",
                retry_after=seconds(slow),
            )
        found = self._store.activation(normal_code(code))
        if found is None:
            self._store.note_failure([key], self._now())
            return Refusal("Такого кода нет: проверьте его по письму школы")
        person, expires, used = found
        if used:
            return Refusal(
                "Этот код уже использован. Если пароль забыт, попросите в школе новое письмо."
            )
        if expires <= self._now():
            return Refusal("Срок действия кода истёк: попросите в школе новое письмо.")
        return person

    def activate(self, code: str, password: str, address: str) -> SourcedId | Refusal:
        """The person sets their own password with the letter's code (once)."""
        target = self.activation_target(code, address)
        if isinstance(target, Refusal):
            return target
        if len(password) < MIN_PASSWORD:
            return Refusal(f"Пароль должен быть не короче {MIN_PASSWORD} символов")
        if not self._store.use_activation(normal_code(code)):
            return Refusal("Этот код уже использован.")
        self._store.replace_password(target, self.hash_password(password))
        return target

    # -- password reset ------------------------------------------------------------------

    def may_mail_reset(self, person: SourcedId | None, address: str) -> bool:
        """Whether another reset mail may go now (counted when it may): a few an hour per
        account and per address. The page answers the same either way."""
        since = self._now() - MAIL_WINDOW
        limits = [(f"mail:addr:{address}", MAILS_PER_ADDRESS)]
        if person is not None:
            limits.append((f"mail:acct:{person}", MAILS_PER_ACCOUNT))
        if any(self._tally(key, since).count >= limit for key, limit in limits):
            return False
        self._store.note_failure([key for key, _ in limits], self._now())
        return True

    def new_reset(self, person: SourcedId) -> str:
        token = secrets.token_urlsafe(32)
        expires = self._now() + timedelta(minutes=self._config.reset_minutes)
        self._store.add_reset(token, person, expires)
        return token

    def reset_target(self, token: str) -> SourcedId | Refusal:
        found = self._store.reset_person(token)
        if found is None:
            return Refusal("Ссылка для восстановления пароля недействительна")
        person, expires, used = found
        if used:
            return Refusal("Эта ссылка уже использована. Запросите новую.")
        if expires <= self._now():
            return Refusal("Срок действия ссылки истёк. Запросите новую.")
        return person

    def reset_password(self, token: str, password: str) -> SourcedId | Refusal:
        target = self.reset_target(token)
        if isinstance(target, Refusal):
            return target
        if len(password) < MIN_PASSWORD:
            return Refusal(f"Пароль должен быть не короче {MIN_PASSWORD} символов")
        if not self._store.use_reset(token):
            return Refusal("Эта ссылка уже использована. Запросите новую.")
        self._store.replace_password(target, self.hash_password(password))  # older links too
        return target
