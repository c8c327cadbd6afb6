"""The Linkback manager's pages and actions, through werkzeug's test client on a real file."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from werkzeug.security import generate_password_hash
from werkzeug.test import Client, TestResponse

from linkback.admin.app import AdminApp
from linkback.cli import main
from linkback.store import Store

PASSWORD_HASH = generate_password_hash("correct horse battery")
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def csrf_of(response: TestResponse) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', response.get_data(as_text=True))
    assert found
    return found.group(1)


def add_linkback(store: Store, source: str, target: str = "https://example.com/post", *,
                 status: str = "verified", hits: int = 3, day: str = "2024-05-01", **columns: Any) -> int:
    store.record_hits({(source, target, "example.com", day): (hits, {n: 1 for n in range(hits)})})
    row = store.conn.execute("SELECT id FROM linkbacks WHERE source = ? AND target = ?", (source, target)).fetchone()
    values = {"status": status, **columns}
    if status in ("verified", "held", "hidden") and "verified_at" not in columns:
        values["verified_at"] = "2024-05-02T00:00:00Z"
    with store.write() as conn:
        conn.execute(
            "UPDATE linkbacks SET %s WHERE id = ?" % ", ".join("%s = ?" % k for k in values),
            (*values.values(), row[0]),
        )
    return row[0]


@pytest.fixture
def store(db_path: str) -> Iterator[Store]:
    store = Store(db_path)
    store.create_user("alice", PASSWORD_HASH)
    store.ensure_sites(["example.com"])
    yield store
    store.close()


class FakeWriter:
    def __init__(self) -> None:
        self.reloads = 0

    def reload_blacklist_soon(self) -> None:
        self.reloads += 1


class FakeMiddleware:
    def __init__(self) -> None:
        self.writer = FakeWriter()

    def stats(self) -> dict[str, Any]:
        return {"queued": 0, "stored": 7, "dropped": 0, "skipped": {}}


@pytest.fixture
def middleware() -> FakeMiddleware:
    return FakeMiddleware()


@pytest.fixture
def client(store: Store, middleware: FakeMiddleware) -> Client:
    app = AdminApp(store, middleware=middleware)
    client = Client(app)
    token = csrf_of(client.get("/login"))
    assert client.post("/login", data={"csrf": token, "name": "alice", "password": "correct horse battery"}).status_code == 303
    return client


def act(client: Client, action: str, *ids: int) -> TestResponse:
    token = csrf_of(client.get("/linkbacks"))
    return client.post("/linkbacks/action", data={"csrf": token, "action": action, "id": [str(i) for i in ids]})


def statuses(store: Store) -> dict[int, str]:
    return {row["id"]: row["status"] for row in store.linkbacks(order="id")}


# --- pages ------------------------------------------------------------------------------------


def test_overview_shows_totals_and_queue(client: Client, store: Store) -> None:
    add_linkback(store, "https://a.example/1", status="verified", hits=9)
    add_linkback(store, "https://b.example/1", status="held")
    add_linkback(store, "https://c.example/1", status="pending")
    store.add_counter("dropped_hits", 12)
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "awaiting approval" in text and "Crawl queue" in text
    assert re.search(r"Hits dropped.*?<td class=\"num\">12</td>", text, re.S)
    assert "https://a.example/1" in text or "a.example" in text


def test_every_page_escapes_what_came_from_outside(client: Client, store: Store) -> None:
    ident = add_linkback(store, "https://evil.example/x", title=XSS, blurb=XSS, author_name=XSS)
    with store.write() as conn:
        conn.execute(
            "INSERT INTO fetches (linkback_id, fetched_at, url, http_status, outcome, detail)"
            " VALUES (?, '2024-05-02T00:00:00Z', ?, 200, 'verified', ?)",
            (ident, "https://evil.example/x", XSS),
        )
    for path in ("/", "/linkbacks", "/linkbacks/%d" % ident, "/blacklist"):
        text = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in text and "<img src=x" not in text, path
    assert "&lt;script&gt;" in client.get("/linkbacks/%d" % ident).get_data(as_text=True)


def test_linkback_detail_has_chart_history_and_explanations(client: Client, store: Store) -> None:
    ident = add_linkback(store, "https://a.example/post", hits=6, day="2024-05-01")
    store.record_hits({("https://a.example/post", "https://example.com/post", "example.com", "2024-05-03"):
                       (40, {1: 40})})  # one client replaying the link
    with store.write() as conn:
        conn.execute(
            "INSERT INTO fetches (linkback_id, fetched_at, url, http_status, outcome, detail)"
            " VALUES (?, '2024-05-02T10:00:00Z', 'https://a.example/post', 200, 'verified', 'link found')",
            (ident,),
        )
    text = client.get("/linkbacks/%d" % ident).get_data(as_text=True)
    assert "<svg" in text and "Raw hits and compensated value" in text
    assert "Recency bias" in text and "Fraud compensation kept a value" in text
    assert "link found" in text and "2024-05-02 10:00" in text
    assert 'class="linkbacks"' in text  # the block as readers see it
    assert client.get("/linkbacks/999999").status_code == 404


def test_table_filters_and_search(client: Client, store: Store) -> None:
    add_linkback(store, "https://alpha.example/1", status="verified")
    add_linkback(store, "https://beta.example/1", status="pending")
    add_linkback(store, "https://gamma.example/1", status="verified", target="https://example.com/other")
    text = client.get("/linkbacks?status=verified").get_data(as_text=True)
    assert "alpha.example" in text and "gamma.example" in text and "beta.example" not in text
    text = client.get("/linkbacks?q=GAMMA").get_data(as_text=True)
    assert "gamma.example" in text and "alpha.example" not in text
    text = client.get("/linkbacks?target=https://example.com/other").get_data(as_text=True)
    assert "gamma.example" in text and "alpha.example" not in text
    text = client.get("/linkbacks?q=100%25").get_data(as_text=True)
    assert "No linkbacks match" in text
    assert client.get("/linkbacks?status=bogus").status_code == 400
    assert client.get("/linkbacks?sort=title").status_code == 400
    assert client.get('/linkbacks?after=["x"]').status_code == 400


def test_table_pages_forward_and_back_over_every_row(client: Client, store: Store) -> None:
    for n in range(120):
        add_linkback(store, "https://s%03d.example/p" % n, hits=1 + n % 7)
    seen: list[str] = []
    pages = []
    url = "/linkbacks?sort=hits"
    while url:
        text = client.get(url).get_data(as_text=True)
        pages.append(url)
        seen.extend(re.findall(r"(s\d{3})\.example/p</span>", text))
        found = re.search(r'<a href="([^"]+)" rel="next">', text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 120 and len(set(seen)) == 120
    assert len(pages) == 3
    # Back from the last page gives the middle page again.
    text = client.get(pages[-1]).get_data(as_text=True)
    prev = re.search(r'<a href="([^"]+)" rel="prev">', text).group(1).replace("&amp;", "&")
    again = client.get(prev).get_data(as_text=True)
    assert re.findall(r"(s\d{3})\.example/p</span>", again) == seen[50:100]
    assert "Rows 51–100 of 120" in again
    query = parse_qs(urlsplit(prev).query)
    assert json.loads(query["before"][0])[1] > 0


# --- actions ----------------------------------------------------------------------------------


def test_approve_publishes_only_what_was_verified(client: Client, store: Store) -> None:
    held = add_linkback(store, "https://a.example/1", status="held")
    pending = add_linkback(store, "https://b.example/1", status="pending")
    blocked = add_linkback(store, "https://c.example/1", status="blocked")
    other = add_linkback(store, "https://d.example/1", status="held")
    response = act(client, "approve", held, pending, blocked)
    assert response.status_code == 303
    assert statuses(store) == {held: "verified", pending: "pending", blocked: "blocked", other: "held"}
    assert store.linkback(held)["approved"] == 1
    assert store.linkback(other)["approved"] == 0


def test_hide_hides_exactly_the_selected(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://a.example/1")
    b = add_linkback(store, "https://b.example/1")
    act(client, "hide", a)
    assert statuses(store) == {a: "hidden", b: "verified"}
    page = client.get("/linkbacks")
    assert "1 hidden." in page.get_data(as_text=True)  # the flash survives the redirect
    act(client, "approve", a)  # and approving brings it back
    assert statuses(store)[a] == "verified"


def test_delete_removes_the_linkback_and_its_history(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://a.example/1")
    b = add_linkback(store, "https://b.example/1")
    act(client, "delete", a)
    assert list(statuses(store)) == [b]
    for table in ("daily", "jobs", "referrers"):
        assert store.conn.execute("SELECT COUNT(*) FROM %s WHERE linkback_id = ?" % table, (a,)).fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM daily WHERE linkback_id = ?", (b,)).fetchone()[0] == 1


def test_recrawl_makes_the_job_due_now(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://a.example/1")
    b = add_linkback(store, "https://b.example/1")
    with store.write() as conn:
        conn.execute("UPDATE jobs SET due_at = ?, attempts = 4, last_error = 'timeout'", (time.time() + 86400,))
    before = time.time()
    act(client, "recrawl", a)
    job = store.crawl_job(a)
    assert job["due_at"] <= time.time() and job["due_at"] >= before - 1
    assert job["attempts"] == 0 and job["last_error"] is None
    assert store.crawl_job(b)["attempts"] == 4


def test_blacklisting_a_source_domain_blocks_its_linkbacks(client: Client, store: Store, middleware: FakeMiddleware) -> None:
    a = add_linkback(store, "https://www.spam.example/1")
    a2 = add_linkback(store, "https://blog.spam.example/2")
    b = add_linkback(store, "https://good.example/1")
    act(client, "blacklist", a)
    assert [r["pattern"] for r in store.blacklist()] == ["spam.example"]
    assert statuses(store) == {a: "blocked", a2: "blocked", b: "verified"}
    assert middleware.writer.reloads == 1


def test_action_needs_a_selection_and_a_known_action(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://a.example/1")
    token = csrf_of(client.get("/linkbacks"))
    response = client.post("/linkbacks/action", data={"csrf": token, "action": "hide"})
    assert response.status_code == 303
    assert statuses(store) == {a: "verified"}
    assert client.post("/linkbacks/action", data={"csrf": token, "action": "drop", "id": str(a)}).status_code == 400
    assert client.post("/linkbacks/action", data={"csrf": token, "action": "hide", "id": "1 OR 1=1"}).status_code == 400


# --- blacklist --------------------------------------------------------------------------------


def test_blacklist_preview_changes_nothing_then_add_blocks(client: Client, store: Store, middleware: FakeMiddleware) -> None:
    a = add_linkback(store, "https://casino-one.example/x")
    b = add_linkback(store, "https://good.example/casino-review")
    c = add_linkback(store, "https://fine.example/1")
    token = csrf_of(client.get("/blacklist"))
    preview = client.post("/blacklist", data={"csrf": token, "pattern": "*casino*", "do": "preview"})
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "<strong>2</strong> linkbacks would be hidden" in text
    assert "casino-one.example" in text and "fine.example" not in text
    assert store.blacklist() == [] and set(statuses(store).values()) == {"verified"}
    added = client.post("/blacklist", data={"csrf": token, "pattern": "*casino*", "do": "add"})
    assert added.status_code == 303
    assert statuses(store) == {a: "blocked", b: "blocked", c: "verified"}
    assert middleware.writer.reloads == 1


def test_invalid_pattern_is_refused(client: Client, store: Store) -> None:
    token = csrf_of(client.get("/blacklist"))
    response = client.post("/blacklist", data={"csrf": token, "pattern": "bad host!", "do": "add"})
    assert response.status_code == 400 and "Not a valid pattern" in response.get_data(as_text=True)
    assert store.blacklist() == []


def test_removing_a_pattern_unblocks_what_no_other_pattern_blocks(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://x.spam.example/1")
    b = add_linkback(store, "https://casino.spam.example/2")
    token = csrf_of(client.get("/blacklist"))
    for pattern in ("spam.example", "*casino*"):
        client.post("/blacklist", data={"csrf": token, "pattern": pattern, "do": "add"})
    assert statuses(store) == {a: "blocked", b: "blocked"}
    client.post("/blacklist/remove", data={"csrf": token, "pattern": "spam.example"})
    assert statuses(store) == {a: "pending", b: "blocked"}
    assert store.crawl_job(a)["due_at"] <= time.time()
    assert client.post("/blacklist/remove", data={"csrf": token, "pattern": "nope"}).status_code == 400


# --- sites and display ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("blog.example.org", "blog.example.org"), ("https://Example.NET/some/page", "example.net"),
     ("bücher.example", "xn--bcher-kva.example")],
)
def test_add_site(client: Client, store: Store, given: str, stored: str) -> None:
    token = csrf_of(client.get("/sites"))
    response = client.post("/sites", data={"csrf": token, "host": given, "moderation": "hold"})
    assert response.status_code == 303
    site = store.site(stored)
    assert site is not None and site["moderation"] == "hold"
    page = client.get("/sites/%s" % stored).get_data(as_text=True)
    assert 'sites=["%s"]' % stored in page.replace("&#34;", '"') or stored in page


@pytest.mark.parametrize("given", ["co.uk", "github.io", "not a host", "", "http://"])
def test_add_site_refuses_what_is_not_a_site(client: Client, store: Store, given: str) -> None:
    token = csrf_of(client.get("/sites"))
    before = store.sites()
    response = client.post("/sites", data={"csrf": token, "host": given})
    assert response.status_code == 400
    assert store.sites() == before


def test_moderation_setting(client: Client, store: Store) -> None:
    token = csrf_of(client.get("/sites/example.com"))
    client.post("/sites/example.com", data={"csrf": token, "form": "moderation", "moderation": "hold"})
    assert store.site("example.com")["moderation"] == "hold"
    response = client.post("/sites/example.com", data={"csrf": token, "form": "moderation", "moderation": "x"})
    assert response.status_code == 400
    assert store.site("example.com")["moderation"] == "hold"


def test_get_code_snippets_carry_the_site(client: Client) -> None:
    text = client.get("/sites/example.com").get_data(as_text=True)
    for title in ("Plain WSGI", "Flask", "Django", "Jinja2", "Static site"):
        assert title in text
    assert "https://example.com/.linkback/linkbacks.js" in text
    assert "{% linkbacks request.build_absolute_uri %}" in text
    assert client.get("/sites/nope.example").status_code == 404


def display_form(token: str, **changes: Any) -> dict[str, Any]:
    form = {
        "csrf": token, "form": "display", "limit": "20", "order": "score", "max_age": "",
        "min_visitors": "0", "min_value": "0", "kinds": ["referrer", "webmention", "pingback", "trackback", "discussion"],
        "heading": "Who links here", "heading_level": "2", "empty": "", "max_blurb": "280", "date_format": "",
        "rel": "nofollow ugc", "show_blurb": "on", "show_author": "on", "show_date": "on",
        "show_visitors": "on", "discussions": "on", "stylesheet": "on",
    }
    form.update(changes)
    return form


def test_display_options_save_only_what_differs(client: Client, store: Store) -> None:
    token = csrf_of(client.get("/sites/example.com"))
    response = client.post("/sites/example.com", data=display_form(
        token, do="save", limit="5", heading="Mentions", kinds=["webmention"], show_visitors=None,
    ))
    assert response.status_code == 303
    assert store.site_display("example.com") == {
        "limit": 5, "heading": "Mentions", "kinds": ["webmention"], "show_visitors": False,
    }


def test_display_preview_does_not_save(client: Client, store: Store) -> None:
    add_linkback(store, "https://a.example/1", title="A friendly post")
    token = csrf_of(client.get("/sites/example.com"))
    response = client.post("/sites/example.com", data=display_form(token, do="preview", heading="Preview heading"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Preview heading" in text and "A friendly post" in text
    assert store.site_display("example.com") == {}


def test_invalid_display_options_are_refused(client: Client, store: Store) -> None:
    token = csrf_of(client.get("/sites/example.com"))
    for bad in ({"limit": "many"}, {"limit": "-1"}, {"heading_level": "9"}, {"rel": "no<follow"}):
        response = client.post("/sites/example.com", data=display_form(token, do="save", **bad))
        assert response.status_code == 400, bad
    assert store.site_display("example.com") == {}


def test_live_preview_fragment(client: Client, store: Store) -> None:
    fragment = client.get("/sites/example.com/preview?heading=Hello&limit=3").get_data(as_text=True)
    assert "Hello" in fragment and "Sample linkbacks" in fragment
    assert client.get("/sites/example.com/preview?limit=x").status_code == 400


def test_remove_site_keeps_linkbacks(client: Client, store: Store) -> None:
    a = add_linkback(store, "https://a.example/1")
    token = csrf_of(client.get("/sites/example.com"))
    client.post("/sites/example.com/remove", data={"csrf": token})
    assert store.site("example.com") is None
    assert list(statuses(store)) == [a]


# --- feed -------------------------------------------------------------------------------------


def test_feed_lists_newly_verified_linkbacks(client: Client, store: Store) -> None:
    import xml.etree.ElementTree as ET

    add_linkback(store, "https://old.example/1", verified_at="2024-05-01T00:00:00Z", title="Old one")
    add_linkback(store, "https://new.example/1", verified_at="2024-05-09T00:00:00Z", title="New one\x0b")
    add_linkback(store, "https://pending.example/1", status="pending")
    token = store.user_by_name("alice")["feed_token"]
    body = Client(client.application).get("/feed/%s.atom" % token).data
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.fromstring(body)
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert titles == ["New one → /post", "Old one → /post"]
    links = [e.find("a:link[@rel='alternate']", ns).get("href") for e in feed.findall("a:entry", ns)]
    assert links == ["https://new.example/1", "https://old.example/1"]


# --- command line -----------------------------------------------------------------------------


def test_create_user_from_stdin(db_path: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db_path, "create-user", "bob", "--password-stdin"], input="a long password\n")
    assert result.exit_code == 0, result.output
    store = Store(db_path)
    assert store.user_by_name("bob") is not None
    again = runner.invoke(main, ["--db", db_path, "create-user", "bob", "--password-stdin"], input="a long password\n")
    assert again.exit_code != 0 and "already" in again.output
    short = runner.invoke(main, ["--db", db_path, "create-user", "carol", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least" in short.output
    old_hash = store.user_by_name("bob")["password_hash"]
    update = runner.invoke(main, ["--db", db_path, "create-user", "bob", "--update", "--password-stdin"],
                           input="another long password\n")
    assert update.exit_code == 0
    assert store.user_by_name("bob")["password_hash"] != old_hash
    store.close()


def test_create_user_prompts_for_the_password(db_path: str) -> None:
    result = CliRunner().invoke(main, ["--db", db_path, "create-user", "dave"], input="a long password\na long password\n")
    assert result.exit_code == 0, result.output
    assert "Created dave" in result.output


def test_admin_command_help() -> None:
    result = CliRunner().invoke(main, ["admin", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--secret-key", "--behind-proxy"):
        assert option in result.output


def test_admin_commands_and_options_are_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section:admin -->", 1)[1].split("\n## ", 1)[0]
    for command in ("admin", "create-user"):
        assert "linkback --db site.db %s" % command in section
        for param in main.commands[command].params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in section, "%s %s is not in the README" % (command, opt)
