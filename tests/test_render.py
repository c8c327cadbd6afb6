"""The linkbacks block: what is listed, each display option, caching and invalidation."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from typing import Any

import mf2py
import pytest
from lxml import html as lxml_html
from markupsafe import Markup

import linkback
from linkback import LinkbackMiddleware
from linkback.errors import ConfigError
from linkback.render import (
    DisplayOptions,
    Renderer,
    block_html,
    clean_text,
    options_dict,
    renderer_for,
    safe_url,
    validate_options,
)
from linkback.store import STATUSES, Store, isotime, utcnow

PAGE = "https://example.com/posts/hello"


def add(store: Store, source: str, target: str = PAGE, **columns: Any) -> int:
    columns.setdefault("status", "verified")
    columns.setdefault("title", "Title of " + source)
    columns.setdefault("site", "example.com")
    return store.add_linkback(source, target, **columns)


def titles(markup: str) -> list[str]:
    if not markup:
        return []
    tree = lxml_html.fromstring(markup)
    return [el.text_content() for el in tree.find_class("linkbacks__title")]


@pytest.fixture
def store(db_path: str) -> Store:
    store = Store(db_path)
    store.ensure_sites(["example.com"])
    yield store
    store.close()


@pytest.fixture
def renderer(store: Store) -> Renderer:
    return Renderer(store)


# --- what is listed ---------------------------------------------------------------------------


def test_only_verified_linkbacks_are_listed(store: Store, renderer: Renderer) -> None:
    for status in STATUSES:
        add(store, "https://%s.example/" % status, status=status, title=status)
    assert titles(renderer.render(PAGE)) == ["verified"]


def test_nothing_to_show_renders_nothing_by_default(renderer: Renderer) -> None:
    result = renderer.render(PAGE)
    assert isinstance(result, Markup)
    assert result == ""


def test_empty_text_renders_the_block_with_it(renderer: Renderer) -> None:
    tree = lxml_html.fromstring(renderer.render(PAGE, empty="No links yet."))
    assert tree.find_class("linkbacks__empty")[0].text_content() == "No links yet."
    assert tree.find_class("linkbacks__heading")[0].text_content() == "Who links here"


def test_target_is_normalised(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/")
    for variant in (
        "https://EXAMPLE.com:443/posts/hello",
        "https://example.com/posts/hello?utm_source=feed",
        "https://example.com/posts/hello#comments",
    ):
        assert titles(renderer.render(variant)) == ["Title of https://a.example/"], variant


def test_other_pages_are_not_listed(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/", target="https://example.com/other")
    assert renderer.render(PAGE) == ""


def test_invalid_target_renders_nothing(renderer: Renderer) -> None:
    assert renderer.render("javascript:alert(1)") == ""
    assert renderer.render("") == ""


def test_entry_fields(store: Store, renderer: Renderer) -> None:
    blurb = "Before the words that link here and after."
    start = blurb.index("words that link")
    add(
        store, "https://alice.example/post", title="Alice's post", site_name="Alice's notebook",
        author_name="Alice", author_url="https://alice.example/", published="2026-03-05T10:00:00+01:00",
        blurb=blurb, blurb_start=start, blurb_end=start + len("words that link"), visitors=12.4,
        value=13, hits=20,
    )
    tree = lxml_html.fromstring(renderer.render(PAGE))
    title = tree.find_class("linkbacks__title")[0]
    assert title.get("href") == "https://alice.example/post"
    assert title.get("rel") == "nofollow ugc"
    assert tree.find_class("linkbacks__site")[0].text_content() == "Alice's notebook"
    assert tree.find_class("linkbacks__author")[0].text_content() == "Alice"
    date = tree.find_class("linkbacks__date")[0]
    assert (date.get("datetime"), date.text_content()) == ("2026-03-05", "5 Mar 2026")
    assert tree.find_class("linkbacks__visitors")[0].text_content() == "12 visitors"
    assert tree.find_class("linkbacks__mark")[0].text_content() == "words that link"
    assert tree.find_class("linkbacks__blurb")[0].text_content() == blurb


def test_missing_fields_fall_back(store: Store, renderer: Renderer) -> None:
    add(store, "https://www.bob.example/a/b", title=None, first_seen="2026-01-02T00:00:00Z")
    tree = lxml_html.fromstring(renderer.render(PAGE))
    assert tree.find_class("linkbacks__title")[0].text_content() == "bob.example"
    assert tree.find_class("linkbacks__site")[0].text_content() == "bob.example"
    assert tree.find_class("linkbacks__date")[0].get("datetime") == "2026-01-02"
    assert not tree.find_class("linkbacks__author")
    assert not tree.find_class("linkbacks__blurb")


def test_output_is_microformats_h_cite(store: Store, renderer: Renderer) -> None:
    add(store, "https://alice.example/post", title="Alice's post", author_name="Alice",
        author_url="https://alice.example/", published="2026-03-05")
    parsed = mf2py.parse(doc=str(renderer.render(PAGE)))
    item = parsed["items"][0]
    assert item["type"] == ["h-cite"]
    assert item["properties"]["url"] == ["https://alice.example/post"]
    assert item["properties"]["name"] == ["Alice's post"]
    assert item["properties"]["author"][0]["properties"]["name"] == ["Alice"]


def test_discussion_badge(store: Store, renderer: Renderer) -> None:
    add(store, "https://news.ycombinator.com/item?id=1", kind="discussion", points=120, comments=45)
    add(store, "https://lobste.rs/s/abc", kind="discussion", points=1, comments=1)
    add(store, "https://a.example/")
    tree = lxml_html.fromstring(renderer.render(PAGE))
    badges = [b.text_content() for b in tree.find_class("linkbacks__badge")]
    assert badges == [
        "Discussed on Hacker News · 120 points · 45 comments",
        "Discussed on Lobsters · 1 point · 1 comment",
    ]
    assert tree.find_class("linkbacks__badge")[0].get("href") == "https://news.ycombinator.com/item?id=1"
    assert titles(renderer.render(PAGE)) == ["Title of https://a.example/"]
    assert renderer.render(PAGE, discussions=False).count("linkbacks__badge") == 0


def test_render_discussions_alone(store: Store, renderer: Renderer) -> None:
    add(store, "https://news.ycombinator.com/item?id=1", kind="discussion", points=3)
    add(store, "https://a.example/")
    result = renderer.render_discussions(PAGE)
    assert "Discussed on Hacker News" in result and "3 points" in result
    assert "linkbacks__item" not in result
    assert renderer.render_discussions("https://example.com/none") == ""


# --- display options --------------------------------------------------------------------------


def test_limit(store: Store, renderer: Renderer) -> None:
    for i in range(5):
        add(store, "https://a%d.example/" % i)
    assert len(titles(renderer.render(PAGE, limit=3))) == 3
    assert renderer.render(PAGE, limit=0) == ""


def test_max_age(store: Store, renderer: Renderer) -> None:
    old = isotime(utcnow() - dt.timedelta(days=40))
    add(store, "https://old.example/", title="old", first_seen=old, last_seen=old)
    add(store, "https://new.example/", title="new")
    assert titles(renderer.render(PAGE, max_age=30)) == ["new"]
    assert titles(renderer.render(PAGE, max_age=dt.timedelta(days=30))) == ["new"]
    assert sorted(titles(renderer.render(PAGE))) == ["new", "old"]


def test_thresholds_apply_to_referrers_only(store: Store, renderer: Renderer) -> None:
    add(store, "https://few.example/", title="few", visitors=2, value=2)
    add(store, "https://many.example/", title="many", visitors=50, value=60)
    add(store, "https://mention.example/", title="mention", kind="webmention")
    assert sorted(titles(renderer.render(PAGE, min_visitors=10))) == ["many", "mention"]
    assert sorted(titles(renderer.render(PAGE, min_value=10))) == ["many", "mention"]


def test_kinds(store: Store, renderer: Renderer) -> None:
    for kind in ("referrer", "webmention", "pingback", "trackback"):
        add(store, "https://%s.example/" % kind, title=kind, kind=kind)
    add(store, "https://news.ycombinator.com/item?id=2", kind="discussion")
    assert titles(renderer.render(PAGE, kinds=["webmention", "pingback"])) in (
        ["webmention", "pingback"], ["pingback", "webmention"]
    )
    only_mentions = renderer.render(PAGE, kinds="webmention")
    assert titles(only_mentions) == ["webmention"] and "linkbacks__badge" not in only_mentions
    assert titles(renderer.render(PAGE, kinds=["discussion"])) == []
    assert "linkbacks__badge" in renderer.render(PAGE, kinds=["discussion"])


def test_order(store: Store, renderer: Renderer) -> None:
    now = utcnow()
    stamp = lambda days: isotime(now - dt.timedelta(days=days))  # noqa: E731
    add(store, "https://popular.example/", title="popular", visitors=100, value=90,
        first_seen=stamp(60), last_seen=stamp(0))
    add(store, "https://fresh.example/", title="fresh", visitors=1, value=1,
        first_seen=stamp(0), last_seen=stamp(0))
    add(store, "https://faded.example/", title="faded", visitors=200, value=60,
        first_seen=stamp(400), last_seen=stamp(300))
    assert titles(renderer.render(PAGE, order="score")) == ["popular", "faded", "fresh"]
    assert titles(renderer.render(PAGE, order="newest")) == ["fresh", "popular", "faded"]
    assert titles(renderer.render(PAGE, order="visitors")) == ["faded", "popular", "fresh"]


def test_heading_and_level(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/")
    assert '<h3 class="linkbacks__heading">Linked from</h3>' in renderer.render(
        PAGE, heading="Linked from", heading_level=3
    )
    assert "linkbacks__heading" not in renderer.render(PAGE, heading=None)


def test_rel_and_new_tab(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/", author_name="A", author_url="https://a.example/me")
    tree = lxml_html.fromstring(renderer.render(PAGE, rel="ugc", new_tab=True))
    for link in tree.iter("a"):
        assert link.get("rel") == "ugc noopener"
        assert link.get("target") == "_blank"
    tree = lxml_html.fromstring(renderer.render(PAGE, rel=""))
    assert all(link.get("rel") is None for link in tree.iter("a"))


def test_show_switches(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/", author_name="A", published="2026-01-01", blurb="text",
        visitors=5, favicon="https://a.example/favicon.ico")
    full = renderer.render(PAGE)
    assert all(c in full for c in ("linkbacks__author", "linkbacks__date", "linkbacks__blurb",
                                    "linkbacks__visitors"))
    assert "linkbacks__favicon" not in full  # third-party images are opt-in
    bare = renderer.render(PAGE, show_author=False, show_date=False, show_blurb=False,
                           show_visitors=False)
    assert not any(c in bare for c in ("linkbacks__author", "linkbacks__date", "linkbacks__blurb",
                                       "linkbacks__visitors"))
    images = renderer.render(PAGE, show_images=True)
    assert 'src="https://a.example/favicon.ico"' in images
    assert 'referrerpolicy="no-referrer"' in images


def test_date_format_and_labels(store: Store, renderer: Renderer) -> None:
    add(store, "https://a.example/", published="2026-01-31", visitors=1)
    add(store, "https://news.ycombinator.com/item?id=3", kind="discussion", points=1200)
    result = renderer.render(PAGE, date_format="%d.%m.%Y", labels={
        "visitor": "1 Besucher", "discussed_on": "Diskutiert auf {site}", "points": "{n} Punkte",
    })
    assert "31.01.2026" in result
    assert "1 Besucher" in result
    assert "Diskutiert auf Hacker News" in result and "1,200 Punkte" in result


def test_blurb_is_cut_around_the_linking_text(store: Store, renderer: Renderer) -> None:
    blurb = "x" * 1000 + " the link " + "y" * 1000
    start = blurb.index("the link")
    add(store, "https://a.example/", blurb=blurb, blurb_start=start, blurb_end=start + 8)
    tree = lxml_html.fromstring(renderer.render(PAGE, max_blurb=100))
    text = tree.find_class("linkbacks__blurb")[0].text_content()
    assert tree.find_class("linkbacks__mark")[0].text_content() == "the link"
    assert len(text) <= 100
    assert text.startswith("…") and text.endswith("…")


@pytest.mark.parametrize("start,end", [(-1, 3), (5, 2), (0, 10_000), (None, 3), (3, 3)],
                         ids=["negative", "reversed", "past end", "missing", "empty"])
def test_bad_highlight_offsets_are_ignored(store: Store, renderer: Renderer, start: Any, end: Any) -> None:
    add(store, "https://a.example/", blurb="plain blurb text", blurb_start=start, blurb_end=end)
    result = renderer.render(PAGE)
    assert "linkbacks__mark" not in result
    assert "plain blurb text" in result


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"limit": -1}, id="negative limit"),
        pytest.param({"limit": "5"}, id="limit as text"),
        pytest.param({"order": "random"}, id="unknown order"),
        pytest.param({"kinds": ["referrer", "spam"]}, id="unknown kind"),
        pytest.param({"heading_level": 7}, id="heading level"),
        pytest.param({"rel": 'nofollow" onclick="x'}, id="rel injection"),
        pytest.param({"labels": {"nope": "x"}}, id="unknown label"),
        pytest.param({"date_format": 5}, id="date format"),
        pytest.param({"show_blurb": "yes"}, id="not a bool"),
        pytest.param({"colour": "red"}, id="unknown option"),
    ],
)
def test_bad_options_raise(renderer: Renderer, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        renderer.render(PAGE, **options)
    with pytest.raises(ConfigError):
        validate_options(options)


def test_validate_options_returns_json_form() -> None:
    assert validate_options({"kinds": ("webmention", "referrer"), "max_age": dt.timedelta(days=2)}) == {
        "kinds": ["referrer", "webmention"], "max_age": 2.0,
    }
    data = options_dict(DisplayOptions())
    assert data["limit"] == 20 and data["labels"]["visitors"] == "{n} visitors"


# --- options stored per site and given by the application -------------------------------------


def test_site_options_override_defaults_and_calls_override_both(store: Store) -> None:
    for i in range(6):
        add(store, "https://a%d.example/" % i)
    renderer = Renderer(store, defaults={"limit": 5, "heading": "From the app"})
    assert len(titles(renderer.render(PAGE))) == 5
    store.set_site_display("example.com", {"limit": 2})
    assert store.site_display("example.com") == {"limit": 2}
    result = renderer.render(PAGE)
    assert len(titles(result)) == 2 and "From the app" in result
    assert len(titles(renderer.render(PAGE, limit=4))) == 4


def test_site_options_apply_to_subdomains_only_of_their_site(store: Store) -> None:
    store.set_site_display("example.com", {"heading": "Site heading"})
    add(store, "https://a.example/", target="https://blog.example.com/post")
    add(store, "https://a.example/", target="https://example.org/post")
    renderer = Renderer(store)
    assert "Site heading" in renderer.render("https://blog.example.com/post")
    assert "Site heading" not in renderer.render("https://example.org/post")


def test_bad_stored_options_are_skipped_not_raised(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    add(store, "https://a.example/")
    store.set_site_display("example.com", {"limit": "many", "heading": "Kept"})
    result = Renderer(store).render(PAGE)
    assert "Kept" in result and titles(result)
    assert "ignoring stored" in caplog.text


def test_bad_application_defaults_raise(store: Store) -> None:
    with pytest.raises(ConfigError):
        Renderer(store, defaults={"limit": "x"})


# --- caching ----------------------------------------------------------------------------------


def test_cached_until_another_connection_writes(db_path: str, store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/", title="first")
    first = renderer.render(PAGE)
    assert renderer.render(PAGE) is first  # served from the cache
    other = Store(db_path)
    add(other, "https://b.example/", title="second")
    other.close()
    assert sorted(titles(renderer.render(PAGE))) == ["first", "second"]


def test_own_writes_invalidate(store: Store) -> None:
    renderer = Renderer(store)
    assert renderer.render(PAGE) == ""
    add(store, "https://a.example/", title="mine")  # the same connection as the renderer's
    assert titles(renderer.render(PAGE)) == ["mine"]


def test_status_change_hides_at_once(store: Store) -> None:
    renderer = Renderer(store)
    linkback_id = add(store, "https://a.example/", title="soon hidden")
    assert titles(renderer.render(PAGE)) == ["soon hidden"]
    other = Store(store.path)
    with other.write() as conn:  # as the admin or crawler would, from its own connection
        conn.execute("UPDATE linkbacks SET status = 'hidden' WHERE id = ?", (linkback_id,))
    other.close()
    assert renderer.render(PAGE) == ""


def test_counting_hits_keeps_the_cache(db_path: str, store: Store) -> None:
    renderer = Renderer(store)
    linkback_id = add(store, "https://a.example/", title="steady")
    first = renderer.render(PAGE)
    source = store.linkback(linkback_id)["source"]
    other = Store(db_path)  # the writer thread's connection, counting live traffic
    other.record_hits({(source, PAGE, "example.com", "2026-11-20"): (5, {1: 3, 2: 2})})
    other.close()
    assert renderer.render(PAGE) is first, "hit counts alone do not empty the cache"
    renderer.clear()
    assert renderer.render(PAGE) is not first


def test_title_change_invalidates(db_path: str, store: Store) -> None:
    renderer = Renderer(store)
    linkback_id = add(store, "https://a.example/", title="before")
    assert titles(renderer.render(PAGE)) == ["before"]
    other = Store(db_path)  # as the crawler re-verifying the page would
    with other.write() as conn:
        conn.execute("UPDATE linkbacks SET title = 'after' WHERE id = ?", (linkback_id,))
    other.close()
    assert titles(renderer.render(PAGE)) == ["after"]


def test_site_options_change_invalidates(store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/")
    assert "Who links here" in renderer.render(PAGE)
    other = Store(store.path)
    other.set_site_display("example.com", {"heading": "Mentions"})
    other.close()
    assert "Mentions" in renderer.render(PAGE)


def test_another_process_writing_invalidates(db_path: str, store: Store) -> None:
    renderer = Renderer(store)
    assert renderer.render(PAGE) == ""
    code = (
        "import sys; from linkback.store import Store; s = Store(sys.argv[1]);"
        "s.add_linkback('https://proc.example/', sys.argv[2], status='verified', title='from a process')"
    )
    subprocess.run([sys.executable, "-c", code, db_path, PAGE], check=True, timeout=60)
    assert titles(renderer.render(PAGE)) == ["from a process"]


def test_other_threads_see_changes(store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/", title="one")
    assert titles(renderer.render(PAGE)) == ["one"]
    seen: list[list[str]] = []

    def in_thread() -> None:
        add(store, "https://b.example/", title="two")
        seen.append(sorted(titles(renderer.render(PAGE))))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [["one", "two"]]
    assert sorted(titles(renderer.render(PAGE))) == ["one", "two"]


def test_cache_is_bounded(store: Store) -> None:
    renderer = Renderer(store, cache_size=3)
    for i in range(10):
        renderer.render("https://example.com/page%d" % i)
    assert len(renderer._cache) == 3


def test_cache_entries_expire(store: Store) -> None:
    renderer = Renderer(store, ttl=0.0)
    add(store, "https://a.example/")
    first = renderer.render(PAGE)
    assert renderer.render(PAGE) is not first
    assert renderer.render(PAGE) == first


# --- the entry cache ---------------------------------------------------------------------------


def test_entries_are_reused_across_changes_elsewhere(store: Store) -> None:
    renderer = Renderer(store)
    for i in range(5):
        add(store, "https://a%d.example/" % i, title="entry %d" % i)
    first = str(renderer.render(PAGE))
    cached = dict(renderer._entries)
    add(store, "https://other.example/", target="https://example.com/elsewhere")
    again = renderer.render(PAGE)
    assert str(again) == first and again is not first  # block rebuilt, same markup
    assert all(renderer._entries[key] is value for key, value in cached.items())


def test_entry_cache_never_shows_a_stale_entry(db_path: str, store: Store) -> None:
    renderer = Renderer(store)
    linkback_id = add(store, "https://a.example/", title="before", visitors=3.0)
    add(store, "https://b.example/", title="unchanged")
    assert "before" in titles(renderer.render(PAGE))
    other = Store(db_path)
    with other.write() as conn:
        conn.execute("UPDATE linkbacks SET title = 'after' WHERE id = ?", (linkback_id,))
    other.close()
    assert sorted(titles(renderer.render(PAGE))) == ["after", "unchanged"]
    # Figures that move without emptying the block cache show once the block is rebuilt.
    store.record_hits({("https://a.example/", PAGE, "example.com", "2026-11-20"): (40, {1: 40})})
    renderer.clear(entries=False)
    markup = lxml_html.fromstring(str(renderer.render(PAGE)))
    assert [el.text_content() for el in markup.find_class("linkbacks__visitors")] == ["4 visitors"]


def test_entry_cache_keeps_options_apart(store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/", author_name="Ann", favicon="https://a.example/f.ico")
    assert "Ann" in renderer.render(PAGE)
    assert "Ann" not in renderer.render(PAGE, show_author=False)
    assert "f.ico" in renderer.render(PAGE, show_images=True)
    assert "f.ico" not in renderer.render(PAGE) and "Ann" in renderer.render(PAGE)


def test_entry_cache_is_bounded(store: Store) -> None:
    renderer = Renderer(store, entry_cache_size=4)
    for i in range(10):
        add(store, "https://a%d.example/" % i)
    assert len(titles(renderer.render(PAGE))) == 10
    assert len(renderer._entries) == 4


def test_entry_cache_can_be_off(store: Store) -> None:
    add(store, "https://a.example/", title="uncached")
    renderer = Renderer(store, entry_cache_size=0)
    assert titles(renderer.render(PAGE)) == ["uncached"]
    assert renderer.listing(PAGE).entries[0]["title"] == "uncached"
    assert not renderer._entries


def test_many_option_sets_start_the_entry_cache_afresh(store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/", title="t")
    for limit in range(1, 100):
        assert titles(renderer.render(PAGE, limit=limit)) == ["t"]
    assert len(renderer._option_sets) <= 64


def test_listing_gives_copies_of_cached_entries(store: Store) -> None:
    renderer = Renderer(store)
    add(store, "https://a.example/", title="original")
    renderer.listing(PAGE).entries[0]["title"] = "<changed by a caller>"
    renderer.clear(entries=False)
    assert renderer.listing(PAGE).entries[0]["title"] == "original"
    assert titles(renderer.render(PAGE)) == ["original"]


def test_block_is_block_html_of_the_listing(store: Store) -> None:
    for i, payload in enumerate(["<b>&'\"", "ok", "tab\tand\u202e"]):
        add(store, "https://a%d.example/" % i, title=payload, blurb=payload + " text",
            blurb_start=0, blurb_end=2, author_name=payload,
            author_url="https://a.example/?a=1&b='")
    renderer = Renderer(store)
    listing = renderer.listing(PAGE, limit=200)
    expected = block_html(listing.entries, listing.discussions, listing.options)
    assert renderer.render(PAGE, limit=200, stylesheet=False) == expected
    renderer.clear(entries=False)  # now from the entry cache
    assert renderer.render(PAGE, limit=200, stylesheet=False) == expected


# --- the store's display query ----------------------------------------------------------------


def test_displayed_linkbacks_columns_and_tuples(store: Store) -> None:
    add(store, "https://a.example/", title="one", visitors=2.0)
    add(store, "https://b.example/", title="two", visitors=5.0)
    rows = store.displayed_linkbacks(PAGE, order="visitors")
    assert [row["title"] for row in rows] == ["two", "one"]
    assert tuple(rows[0]) == Store.DISPLAY_COLUMNS
    narrow = store.displayed_linkbacks(PAGE, order="visitors", columns=("title", "visitors"))
    assert narrow == [{"title": "two", "visitors": 5.0}, {"title": "one", "visitors": 2.0}]
    assert store.displayed_linkbacks(
        PAGE, order="visitors", columns=("title", "visitors"), tuples=True
    ) == [("two", 5.0), ("one", 2.0)]
    with pytest.raises(ValueError):
        store.displayed_linkbacks(PAGE, columns=("title", "status"))


def test_unreadable_database_renders_nothing(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "broken.db"
    store = Store(str(path))
    renderer = Renderer(store)
    store.close()
    path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(path) + suffix):
            os.remove(str(path) + suffix)
    assert renderer.render(PAGE) == ""
    assert "cannot render" in caplog.text


# --- module-level API and the middleware ------------------------------------------------------


def test_module_render(db_path: str, store: Store) -> None:
    add(store, "https://a.example/", title="module")
    assert titles(linkback.render(PAGE, database=db_path)) == ["module"]
    assert renderer_for(db_path) is renderer_for(os.path.relpath(db_path))
    add(store, "https://news.ycombinator.com/item?id=9", kind="discussion", points=2)
    assert "2 points" in linkback.render_discussions(PAGE, database=db_path)


def test_middleware_render_uses_its_options(db_path: str, store: Store) -> None:
    add(store, "https://a.example/", title="kept", target="https://example.com/p?id=3")
    app = LinkbackMiddleware(lambda e, s: [], db_path, crawl=False, sites=["example.com"],
                             keep_params=["id"], display={"heading": "Mentions"})
    try:
        result = app.render("https://example.com/p?id=3&utm_source=x")
        assert titles(result) == ["kept"]
        assert "Mentions" in result
        assert '<link rel="stylesheet" href="/.linkback/linkbacks.css">' in result
        assert "stylesheet" not in app.render("https://example.com/p?id=3", stylesheet=False)
    finally:
        app.close()


def test_stylesheet() -> None:
    css = linkback.stylesheet()
    assert isinstance(css, Markup)
    assert ".linkbacks__title" in css and "--linkbacks-accent" in css
    assert "prefers-color-scheme: dark" in css


# --- cleaning ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,expected",
    [
        ("https://a.example/x?y=1#c-2", "https://a.example/x?y=1#c-2"),
        ("HTTP://A.Example:80/", "http://a.example/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("java\tscript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox(1)", None),
        ("//evil.example/", None),
        ("https://user:pw@a.example/", None),
        ("https://a.example/\u202eevil", None),
        ("https://a.example/a b", None),
        ('https://a.example/"onmouseover="x', "https://a.example/%22onmouseover=%22x"),
        (None, None),
        ("", None),
    ],
)
def test_safe_url(url: Any, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_clean_text() -> None:
    assert clean_text("  a\n\tb  ") == "a b"
    assert clean_text("evil\u202egnp.exe") == "evilgnp.exe"
    assert clean_text("x\u200by\x00z") == "xyz"
    assert clean_text("a" * 300, 10) == "a" * 9 + "…"
    assert clean_text("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # ZWJ sequences stay whole
