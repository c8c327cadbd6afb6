"""Accounts, sessions, CSRF tokens and login throttling for the Linkback manager.

* Passwords are hashed with :func:`werkzeug.security.generate_password_hash` (scrypt).
* A session is a row in the database. The browser holds a random token, signed with the
  secret key, in an ``HttpOnly; SameSite=Lax`` cookie (``Secure`` under https); the row is
  keyed by the token's SHA-256, so a copy of the database hands out no live session, and
  logging out deletes the row: a stolen cookie dies with it.
* Every state-changing form carries the session's CSRF token. The login form, which has no
  session yet, carries a token bound to a short-lived signed cookie (login CSRF would let
  another site log a browser into the attacker's account).
* Failed logins are counted per user name and per client address. A locked key is refused
  *before* the password hash is computed: scrypt costs about 100 ms of CPU and 32 MB per
  try, so hashing every attempt would hand attackers a denial-of-service lever.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from ..store import Store

logger = logging.getLogger(__name__)

#: A session ends after this many seconds without a request.
SESSION_IDLE = 7 * 86400
#: A session ends this many seconds after login, however active.
SESSION_MAX = 30 * 86400
#: The expiry is pushed forward at most this often, to spare a write per request.
SESSION_TOUCH = 3600
#: Failed logins allowed per user name within :data:`THROTTLE_WINDOW`.
MAX_FAILURES_PER_USER = 5
#: Failed logins allowed per client address within :data:`THROTTLE_WINDOW`.
MAX_FAILURES_PER_ADDRESS = 20
#: Seconds over which failures are counted.
THROTTLE_WINDOW = 15 * 60
#: Seconds a user name or address stays locked once over its limit.
LOCKOUT = 15 * 60
#: Longest password accepted; longer ones are refused before hashing.
MAX_PASSWORD = 1024
#: Shortest password ``create-user`` accepts.
MIN_PASSWORD = 10

SESSION_COOKIE = "linkback_admin"
LOGIN_COOKIE = "linkback_admin_login"
FLASH_COOKIE = "linkback_admin_flash"


@functools.cache
def _dummy_hash() -> str:
    # Checked when the user name is unknown, so that a wrong name costs as much time as a
    # wrong password and the response time does not tell which names exist.
    return generate_password_hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """Hash a password for storage (werkzeug's default, scrypt)."""
    return generate_password_hash(password)


def validate_password(password: str) -> str:
    """Return ``password`` or raise ``ValueError`` saying why it will not do."""
    if len(password) < MIN_PASSWORD:
        raise ValueError("a password needs at least %d characters" % MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise ValueError("a password may have at most %d characters" % MAX_PASSWORD)
    return password


def validate_user_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise ValueError("a user name is 1 to 64 printable characters")
    return name


class Signer:
    """HMAC-SHA256 signatures for cookie values.

    :param key: the secret key (bytes or text).
    """

    def __init__(self, key: str | bytes) -> None:
        self.key = key.encode() if isinstance(key, str) else key

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self.key, ("%s\x00%s" % (purpose, value)).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, purpose: str, value: str) -> str:
        """``value.signature``; the purpose keeps a signed value of one kind from passing as another."""
        return "%s.%s" % (value, self._mac(purpose, value))

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        """The value if the signature is good, else ``None``."""
        if not signed or "." not in signed or len(signed) > 4096:
            return None
        value, _, mac = signed.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(purpose, value)):
            return None
        return value


def session_key(token: str) -> str:
    """The database key of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginResult:
    """What :meth:`Auth.login` decided: a new session token, or why not."""

    token: str | None = None
    user: dict[str, Any] | None = None
    locked_for: float = 0.0
    error: str | None = None


class Auth:
    """Logins and sessions against a store.

    :param store: the database.
    :param signer: signs cookie values.
    :param clock: returns the time in seconds (tests pass their own).
    :param verify: checks a password against a stored hash.
    """

    def __init__(
        self,
        store: Store,
        signer: Signer,
        clock: Callable[[], float] = time.time,
        verify: Callable[[str, str], bool] = check_password_hash,
    ) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock
        self.verify = verify

    # logging in

    def login(self, name: str, password: str, *, address: str, user_agent: str = "") -> LoginResult:
        """Check a name and password; on success create a session and return its token."""
        now = self.clock()
        name = name.strip()[:64]
        user_key = "user:" + name.lower()
        address_key = "addr:" + (address or "-")[:64]
        # Throttling first: a locked key never reaches the (expensive) hash.
        locked = self.store.login_lock([user_key, address_key], now=now)
        if locked > 0:
            logger.warning("linkback admin: login refused while locked (%s)", address_key)
            return LoginResult(locked_for=locked, error="Too many failed logins.")
        if not name or not password or len(password) > MAX_PASSWORD:
            self._fail(user_key, address_key, now)
            return LoginResult(error="Wrong user name or password.")
        user = self.store.user_by_name(name)
        good = self.verify(user["password_hash"] if user else _dummy_hash(), password)
        if user is None or not good:
            logger.warning("linkback admin: failed login for %r from %s", name, address)
            self._fail(user_key, address_key, now)
            locked = self.store.login_lock([user_key, address_key], now=now)
            return LoginResult(locked_for=locked, error="Wrong user name or password.")
        self.store.clear_login_failures(user_key)
        token = secrets.token_urlsafe(32)
        self.store.create_session(
            session_key(token), user["id"], secrets.token_urlsafe(32),
            now=now, expires_at=now + SESSION_IDLE, address=address, user_agent=user_agent,
        )
        logger.info("linkback admin: %s logged in from %s", user["name"], address)
        return LoginResult(token=token, user=user)

    def reauthenticate(self, user: dict[str, Any], password: str, *, address: str) -> str | None:
        """Check a logged-in user's password again (before changing it); an error or ``None``.

        Throttled like a login: a stolen session must not become a password oracle.
        """
        now = self.clock()
        user_key = "user:" + user["name"].lower()
        address_key = "addr:" + (address or "-")[:64]
        if self.store.login_lock([user_key, address_key], now=now) > 0:
            return "Too many failed attempts. Try again later."
        if not password or len(password) > MAX_PASSWORD or not self.verify(user["password_hash"], password):
            self._fail(user_key, address_key, now)
            return "The current password is wrong."
        return None

    def _fail(self, user_key: str, address_key: str, now: float) -> None:
        self.store.add_login_failure(
            {user_key: MAX_FAILURES_PER_USER, address_key: MAX_FAILURES_PER_ADDRESS},
            now=now, window=THROTTLE_WINDOW, lockout=LOCKOUT,
        )

    # sessions

    def cookie_value(self, token: str) -> str:
        return self.signer.sign("session", token)

    def session(self, cookie: str | None) -> dict[str, Any] | None:
        """The live session a cookie refers to, or ``None``; slides its expiry forward."""
        token = self.signer.unsign("session", cookie)
        if token is None:
            return None
        now = self.clock()
        key = session_key(token)
        session = self.store.session(key, now=now)
        if session is None:
            return None
        if now - session["created_at"] > SESSION_MAX:
            self.store.delete_session(key)
            return None
        if now - session["seen_at"] > SESSION_TOUCH:
            self.store.touch_session(key, now=now, expires_at=now + SESSION_IDLE)
        session["key"] = key
        return session

    def logout(self, session: dict[str, Any]) -> None:
        """End a session server-side: its cookie is worthless from now on."""
        self.store.delete_session(session["key"])

    @staticmethod
    def csrf_ok(session: dict[str, Any], token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), session["csrf"])

    # the login form's CSRF token

    def login_token(self, cookie: str | None) -> tuple[str, str | None]:
        """(form token, new cookie value or ``None`` when the current cookie is fine)."""
        token = self.signer.unsign("login", cookie)
        if token:
            return token, None
        token = secrets.token_urlsafe(24)
        return token, self.signer.sign("login", token)

    def login_token_ok(self, cookie: str | None, token: str | None) -> bool:
        expected = self.signer.unsign("login", cookie)
        return bool(expected and token) and hmac.compare_digest(str(token), str(expected))
