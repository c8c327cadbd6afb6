"""The Linkback manager's security: sessions, login throttling, CSRF, headers, the feed URL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.test import Client, TestResponse

from linkback.admin import create_app
from linkback.admin.app import AdminApp
from linkback.admin.auth import (
    LOCKOUT,
    LOGIN_COOKIE,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_USER,
    SESSION_COOKIE,
    SESSION_IDLE,
    Auth,
    Signer,
)
from linkback.store import Store

PASSWORD = "correct horse battery"
# Hashed once: scrypt costs ~0.2 s, and most tests only need an account to exist.
PASSWORD_HASH = generate_password_hash(PASSWORD)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(db_path: str) -> Iterator[Store]:
    store = Store(db_path)
    store.create_user("alice", PASSWORD_HASH)
    store.ensure_sites(["example.com"])
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(store: Store, clock: Clock) -> AdminApp:
    return AdminApp(store, clock=clock)


def csrf_of(response: TestResponse) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "no CSRF field in the page"
    return found.group(1)


def log_in(client: Client, name: str = "alice", password: str = PASSWORD, **extra: Any) -> TestResponse:
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"csrf": token, "name": name, "password": password, **extra})


@pytest.fixture
def client(app: AdminApp) -> Client:
    client = Client(app)
    assert log_in(client).status_code == 303
    return client


GET_PAGES = [
    "/", "/linkbacks", "/linkbacks/1", "/sites", "/sites/example.com", "/sites/example.com/preview",
    "/blacklist", "/account", "/no/such/page",
]
POSTS = [
    ("/logout", {}),
    ("/linkbacks/action", {"action": "hide", "id": "1"}),
    ("/sites", {"host": "new.example"}),
    ("/sites/example.com", {"form": "moderation", "moderation": "hold"}),
    ("/sites/example.com/remove", {}),
    ("/blacklist", {"pattern": "spam.example", "do": "add"}),
    ("/blacklist/remove", {"pattern": "spam.example"}),
    ("/account", {"form": "feed"}),
]


@pytest.mark.parametrize("path", GET_PAGES)
def test_anonymous_get_goes_to_login(app: AdminApp, path: str) -> None:
    response = Client(app).get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    assert "Overview" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("path", "data"), POSTS, ids=[p for p, _ in POSTS])
def test_anonymous_post_is_refused_and_changes_nothing(app: AdminApp, store: Store, path: str, data: dict[str, str]) -> None:
    before = (store.sites(), store.blacklist())
    response = Client(app).post(path, data=data)
    assert response.status_code == 403
    assert (store.sites(), store.blacklist()) == before


def test_login_sets_a_hardened_session_cookie(app: AdminApp) -> None:
    client = Client(app)
    response = log_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert client.get("/").status_code == 200


def test_session_cookie_is_secure_under_https(app: AdminApp) -> None:
    client = Client(app)
    page = client.get("/login", base_url="https://admin.example")
    token = csrf_of(page)
    response = client.post(
        "/login", base_url="https://admin.example",
        data={"csrf": token, "name": "alice", "password": PASSWORD},
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "Secure" in cookie


def test_the_session_lives_in_the_database(client: Client, store: Store) -> None:
    rows = store.conn.execute("SELECT id FROM admin_sessions").fetchall()
    assert len(rows) == 1
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    token = cookie.value.rsplit(".", 1)[0]
    assert token not in rows[0][0]  # only a hash of the token is stored


def test_wrong_password_is_refused(app: AdminApp) -> None:
    response = log_in(Client(app), password="not the password")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert SESSION_COOKIE not in response.headers.get("Set-Cookie", "")


def test_unknown_user_gets_the_same_answer(app: AdminApp) -> None:
    response = log_in(Client(app), name="mallory", password="whatever it is")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text


def test_repeated_failures_lock_the_user_name(store: Store, clock: Clock) -> None:
    app = AdminApp(store, clock=clock)
    app.auth.verify = lambda stored, given: False  # every try fails fast
    client = Client(app)
    statuses = [log_in(client, password="wrong").status_code for _ in range(MAX_FAILURES_PER_USER)]
    assert statuses[:-1] == [401] * (MAX_FAILURES_PER_USER - 1)
    assert statuses[-1] == 429
    app.auth.verify = check_password_hash
    locked = log_in(client)  # even the right password, while locked
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    clock.now += LOCKOUT + 1
    assert log_in(client).status_code == 303


def test_a_locked_login_never_computes_the_hash(store: Store, clock: Clock) -> None:
    calls: list[str] = []

    def verify(stored: str, given: str) -> bool:
        calls.append(given)
        return False

    auth = Auth(store, Signer("k"), clock, verify=verify)
    for _ in range(MAX_FAILURES_PER_USER):
        auth.login("alice", "guess", address="203.0.113.5")
    assert len(calls) == MAX_FAILURES_PER_USER
    result = auth.login("alice", PASSWORD, address="198.51.100.7")
    assert result.token is None and result.locked_for > 0
    assert len(calls) == MAX_FAILURES_PER_USER  # refused before hashing


def test_one_address_trying_many_names_is_locked(store: Store, clock: Clock) -> None:
    auth = Auth(store, Signer("k"), clock, verify=lambda stored, given: False)
    for n in range(MAX_FAILURES_PER_ADDRESS):
        auth.login("user%d" % n, "guess", address="203.0.113.9")
    result = auth.login("alice", PASSWORD, address="203.0.113.9")
    assert result.locked_for > 0
    other = Auth(store, Signer("k"), clock).login("alice", PASSWORD, address="198.51.100.1")
    assert other.token is not None  # the user name itself is not locked


def test_failures_outside_the_window_are_forgotten(store: Store, clock: Clock) -> None:
    auth = Auth(store, Signer("k"), clock, verify=lambda stored, given: False)
    for _ in range(MAX_FAILURES_PER_USER - 1):
        auth.login("alice", "guess", address="a")
    clock.now += 16 * 60
    result = auth.login("alice", "guess", address="a")
    assert result.locked_for == 0


def test_login_form_needs_its_token(app: AdminApp) -> None:
    client = Client(app)
    client.get("/login")
    response = client.post("/login", data={"name": "alice", "password": PASSWORD})
    assert response.status_code == 403
    response = client.post("/login", data={"csrf": "forged", "name": "alice", "password": PASSWORD})
    assert response.status_code == 403
    # A token without its cookie (another browser's) does not do either.
    token = csrf_of(client.get("/login"))
    stranger = Client(app)
    assert stranger.post("/login", data={"csrf": token, "name": "alice", "password": PASSWORD}).status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_post_without_the_right_csrf_token_is_refused(client: Client, store: Store, token: str | None) -> None:
    data = {"pattern": "spam.example", "do": "add"}
    if token is not None:
        data["csrf"] = token
    response = client.post("/blacklist", data=data)
    assert response.status_code == 403
    assert store.blacklist() == []


def test_post_from_another_origin_is_refused(client: Client, store: Store) -> None:
    token = csrf_of(client.get("/blacklist"))
    response = client.post(
        "/blacklist", data={"csrf": token, "pattern": "spam.example", "do": "add"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert store.blacklist() == []
    response = client.post(
        "/blacklist", data={"csrf": token, "pattern": "spam.example", "do": "add"},
        headers={"Origin": "http://localhost"},
    )
    assert response.status_code == 303
    assert [r["pattern"] for r in store.blacklist()] == ["spam.example"]


def test_logout_revokes_the_session_server_side(client: Client, app: AdminApp, store: Store) -> None:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    stolen = cookie.value
    token = csrf_of(client.get("/"))
    response = client.post("/logout", data={"csrf": token})
    assert response.status_code == 303
    assert store.conn.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 0
    replay = Client(app)
    replay.set_cookie(SESSION_COOKIE, stolen)
    assert replay.get("/").status_code == 303


def test_a_forged_or_tampered_cookie_is_no_session(app: AdminApp, client: Client) -> None:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    token, _, mac = cookie.value.rpartition(".")
    for value in ("nonsense", token, token + ".AAAA", "x" + cookie.value, cookie.value + "x"):
        other = Client(app)
        other.set_cookie(SESSION_COOKIE, value)
        assert other.get("/").status_code == 303, value


def test_another_secret_key_refuses_the_cookie(store: Store, client: Client) -> None:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    other = Client(AdminApp(store, secret_key="a different key"))
    other.set_cookie(SESSION_COOKIE, cookie.value)
    assert other.get("/").status_code == 303


def test_sessions_expire_when_idle(app: AdminApp, clock: Clock, client: Client) -> None:
    clock.now += SESSION_IDLE - 10
    assert client.get("/").status_code == 200  # activity pushes the expiry forward
    clock.now += SESSION_IDLE - 10
    assert client.get("/").status_code == 200
    clock.now += SESSION_IDLE + 10
    assert client.get("/").status_code == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
def test_login_never_redirects_off_the_admin(app: AdminApp, target: str) -> None:
    response = log_in(Client(app), next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(app: AdminApp) -> None:
    client = Client(app)
    first = client.get("/blacklist")
    assert first.headers["Location"] == "/login?next=/blacklist"
    token = csrf_of(client.get(first.headers["Location"]))
    response = client.post("/login", data={"csrf": token, "name": "alice", "password": PASSWORD, "next": "/blacklist"})
    assert response.headers["Location"] == "/blacklist"


def test_security_headers(client: Client) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert '<script nonce="%s">' % nonce.group(1) in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Content-Security-Policy"] != csp  # a new nonce each time


def test_feed_answers_only_at_the_secret_url(app: AdminApp, store: Store, client: Client) -> None:
    token = store.user_by_name("alice")["feed_token"]
    anonymous = Client(app)
    response = anonymous.get("/feed/%s.atom" % token)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    ET.fromstring(response.data)
    assert anonymous.get("/feed/%s.atom" % ("x" * len(token))).status_code == 404
    page = client.get("/account")
    assert "/feed/%s.atom" % token in page.text
    client.post("/account", data={"csrf": csrf_of(page), "form": "feed"})
    assert anonymous.get("/feed/%s.atom" % token).status_code == 404
    new = store.user_by_name("alice")["feed_token"]
    assert anonymous.get("/feed/%s.atom" % new).status_code == 200


def test_changing_the_password_ends_every_session(app: AdminApp, store: Store, client: Client) -> None:
    second = Client(app)
    assert log_in(second).status_code == 303
    page = client.get("/account")
    wrong = client.post("/account", data={
        "csrf": csrf_of(page), "form": "password", "current": "nope", "new": "another long one",
        "confirm": "another long one",
    })
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    response = client.post("/account", data={
        "csrf": csrf_of(page), "form": "password", "current": PASSWORD, "new": "another long one",
        "confirm": "another long one",
    })
    assert response.status_code == 303
    assert client.get("/").status_code == 303 and second.get("/").status_code == 303
    assert log_in(Client(app), password="another long one").status_code == 303


def test_served_by_the_middleware_under_its_prefix(db_path: str) -> None:
    from linkback import LinkbackMiddleware

    store = Store(db_path)
    store.create_user("alice", PASSWORD_HASH)

    def site(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"site"]

    middleware = LinkbackMiddleware(site, db_path, sites=["example.com"], crawl=False)
    try:
        client = Client(middleware)
        first = client.get("/.linkback/admin/")
        assert first.status_code == 303
        assert first.headers["Location"].startswith("/.linkback/admin/login")
        token = csrf_of(client.get("/.linkback/admin/login"))
        response = client.post(
            "/.linkback/admin/login", data={"csrf": token, "name": "alice", "password": PASSWORD}
        )
        assert response.headers["Location"] == "/.linkback/admin/"
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
        assert "Path=/.linkback/admin/" in cookie
        page = client.get("/.linkback/admin/linkbacks")
        assert page.status_code == 200 and 'href="/.linkback/admin/sites"' in page.text
        assert client.get("/").get_data() == b"site"
    finally:
        middleware.close()
        store.close()


def test_admin_can_be_switched_off(db_path: str) -> None:
    from linkback import LinkbackMiddleware

    middleware = LinkbackMiddleware(lambda e, s: [], db_path, crawl=False, admin=False)
    try:
        assert Client(middleware).get("/.linkback/admin/login").status_code == 404
    finally:
        middleware.close()


def test_create_app_standalone(db_path: str) -> None:
    app = create_app(db_path)
    assert Client(app).get("/login").status_code == 200
    assert LOGIN_COOKIE in Client(app).get("/login").headers["Set-Cookie"]
