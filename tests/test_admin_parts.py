"""Parts of the Linkback manager on their own: keyset paging, blacklist matching, charts, feed."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkback import urls
from linkback.admin import blacklist, charts
from linkback.admin.auth import Signer
from linkback.admin.feed import atom_feed
from linkback.admin.snippets import snippets
from linkback.store import Store

# --- keyset paging against a plain Python reference -------------------------------------------

row_strategy = st.fixed_dictionaries({
    "status": st.sampled_from(["verified", "pending", "held", "blocked"]),
    "kind": st.sampled_from(["referrer", "webmention"]),
    "site": st.sampled_from(["a.example", "b.example"]),
    "hits": st.integers(0, 5),  # few values: many ties, which the id must break
    "value": st.sampled_from([0.0, 1.5, 2.0, 7.25]),
    "title": st.sampled_from(["Alpha post", "beta notes", "100% sure", "under_score", None]),
    "day": st.integers(1, 4),
})

filters_strategy = st.fixed_dictionaries({
    "status": st.sampled_from([None, "verified", "held"]),
    "kind": st.sampled_from([None, "referrer"]),
    "site": st.sampled_from([None, "a.example"]),
    "search": st.sampled_from([None, "alpha", "%", "_", "NOTES", "src1"]),
})


def _matches(row: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name in ("status", "kind", "site"):
        if filters[name] is not None and row[name] != filters[name]:
            return False
    needle = filters["search"]
    if needle:
        fields = (row["source"], row["permalink"], row["title"] or "", row["target"])
        return any(needle.lower() in f.lower() for f in fields)
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, min_size=0, max_size=25),
    filters=filters_strategy,
    sort=st.sampled_from(["value", "hits", "first_seen"]),
    descending=st.booleans(),
    limit=st.integers(1, 7),
)
def test_keyset_pages_walk_every_match_once_both_ways(
    rows: list[dict[str, Any]], filters: dict[str, Any], sort: str, descending: bool, limit: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "p.db"))
        try:
            expected = []
            for n, row in enumerate(rows):
                source = "https://src%d.example/%d" % (n % 3, n)
                stamp = "2026-01-0%dT00:00:00Z" % row["day"]
                ident = store.add_linkback(
                    source, "https://%s/post" % row["site"], site=row["site"], kind=row["kind"],
                    status=row["status"], hits=row["hits"], value=row["value"], title=row["title"],
                    first_seen=stamp, last_seen=stamp,
                )
                full = dict(row, id=ident, source=source, permalink=source, target="https://%s/post" % row["site"],
                            first_seen=stamp)
                if _matches(full, filters):
                    expected.append((full[sort], ident))
            expected.sort(reverse=descending)
            wanted = [ident for _, ident in expected]

            seen: list[int] = []
            pages: list[list[dict[str, Any]]] = []
            after = None
            while True:
                page = store.admin_linkbacks(**filters, sort=sort, descending=descending, after=after, limit=limit)
                assert page["total"] == len(wanted)
                if not page["rows"]:
                    break
                pages.append(page["rows"])
                seen.extend(r["id"] for r in page["rows"])
                if not page["more"]:
                    break
                after = (page["rows"][-1][sort], page["rows"][-1]["id"])
            assert seen == wanted

            # Walk back from the last page with "before" cursors.
            back: list[int] = []
            if pages:
                back = [r["id"] for r in pages[-1]]
                before = (pages[-1][0][sort], pages[-1][0]["id"])
                while True:
                    page = store.admin_linkbacks(**filters, sort=sort, descending=descending, before=before, limit=limit)
                    if not page["rows"]:
                        break
                    back = [r["id"] for r in page["rows"]] + back
                    if not page["more"]:
                        break
                    before = (page["rows"][0][sort], page["rows"][0]["id"])
            assert back == wanted
        finally:
            store.close()


def test_unknown_sort_is_refused(db_path: str) -> None:
    with pytest.raises(ValueError):
        Store(db_path).admin_linkbacks(sort="title; DROP TABLE linkbacks")


# --- blacklist matching -----------------------------------------------------------------------

label = st.text(alphabet="abcdefghij-0123", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
host = st.lists(label, min_size=2, max_size=4).map(".".join)
path = st.lists(st.text(alphabet="abcxyz09-_.", min_size=0, max_size=5), max_size=3).map("/".join)


@st.composite
def pattern_for(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["host", "wild-host", "url", "star"]))
    base = draw(host)
    if kind == "host":
        return base
    if kind == "wild-host":
        return "*." + base.split(".", 1)[1]
    if kind == "url":
        return base + "/" + draw(path) + "*"
    return "*" + draw(label) + "*"


@settings(max_examples=300, deadline=None)
@given(pattern=pattern_for(), url_host=host, url_path=path, scheme=st.sampled_from(["http", "https"]))
def test_literal_fragment_is_in_every_matching_url(pattern: str, url_host: str, url_path: str, scheme: str) -> None:
    try:
        patterns = urls.PatternSet([pattern])
    except ValueError:
        return
    url = urls.normalize_url("%s://%s/%s" % (scheme, url_host, url_path))
    if url is None:
        return
    if patterns.match(url):
        assert blacklist.literal_fragment(pattern) in url.lower()


def test_matching_uses_the_capture_rules(db_path: str) -> None:
    store = Store(db_path)
    ids = {
        name: store.add_linkback(url, "https://example.com/", status="verified")
        for name, url in {
            "sub": "https://blog.spam.example/a", "bare": "https://spam.example/b",
            "other": "https://notspam.example/c", "path": "https://good.example/ads/1",
        }.items()
    }
    found = {row["id"] for row in blacklist.matching(store, "spam.example")}
    assert found == {ids["sub"], ids["bare"]}
    assert {row["id"] for row in blacklist.matching(store, "good.example/ads/*")} == {ids["path"]}
    assert blacklist.block(store, "spam.example") == 2
    assert blacklist.unblock(store, "spam.example", ["*blog*"]) == 1
    statuses = {row["id"]: row["status"] for row in store.linkbacks(order="id")}
    assert statuses[ids["sub"]] == "blocked" and statuses[ids["bare"]] == "pending"
    with pytest.raises(ValueError):
        blacklist.matching(store, "bad host!")
    store.close()


@pytest.mark.parametrize(
    ("url", "pattern"),
    [("https://www.blog.example.co.uk/x", "example.co.uk"), ("https://alice.github.io/p", "alice.github.io"),
     ("not a url", None)],
)
def test_source_domain_pattern(url: str, pattern: str | None) -> None:
    assert blacklist.source_domain_pattern(url) == pattern


# --- charts -----------------------------------------------------------------------------------


def test_chart_fills_missing_days_and_draws_both_series() -> None:
    days = [{"day": "2026-01-01", "hits": 10, "value": 4.0}, {"day": "2026-01-04", "hits": 2, "value": 2.0}]
    svg = str(charts.traffic_chart(days, today=dt.date(2026, 1, 5)))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 4  # two days with traffic, two bars each
    assert "per day, 2026-01-01 to 2026-01-05" in svg
    ET.fromstring(svg)  # well-formed


def test_chart_switches_to_weeks_for_long_histories() -> None:
    days = [{"day": "2025-01-01", "hits": 3, "value": 3.0}, {"day": "2025-12-30", "hits": 1, "value": 1.0}]
    svg = str(charts.traffic_chart(days, today=dt.date(2025, 12, 31)))
    assert "per week" in svg
    ET.fromstring(svg)


def test_chart_without_traffic() -> None:
    assert "No traffic" in str(charts.traffic_chart([]))


@pytest.mark.parametrize(("bias", "word"), [(8.0, "growing"), (-5.5, "fading"), (0.4, "steady")])
def test_recency_sentence(bias: float, word: str) -> None:
    assert word in charts.explain_recency(bias)


def test_fraud_sentence() -> None:
    text = charts.explain_fraud(1000, 120.0, 88.0)
    assert "1,000 raw hits" in text and "88% discarded" in text and "suspicion" in text


# --- feed, signing, snippets ------------------------------------------------------------------


def test_feed_is_valid_atom_whatever_the_text() -> None:
    row = {
        "id": 3, "permalink": "javascript:alert(1)", "source": "javascript:alert(1)",
        "target": "https://example.com/post", "title": "Bad \x00\x1b title <b>", "blurb": "x\ufffe",
        "verified_at": "2026-01-02T00:00:00Z", "first_seen": "2026-01-01T00:00:00Z",
        "kind": "referrer", "status": "held", "author_url": "data:text/html,x",
    }
    body = atom_feed([row], feed_url="https://a/feed", home_url="https://a/", detail_url=lambda i: "https://a/%d" % i)
    feed = ET.fromstring(body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = feed.find("a:entry", ns)
    assert entry is not None
    assert entry.findtext("a:title", namespaces=ns).startswith("Bad  title <b>")
    assert entry.find("a:link[@rel='alternate']", ns) is None  # not an http(s) URL
    assert entry.find("a:author/a:uri", ns) is None
    assert "held for approval" in entry.findtext("a:summary", namespaces=ns)


def test_signer_refuses_tampering_and_other_purposes() -> None:
    signer = Signer("secret")
    signed = signer.sign("session", "token")
    assert signer.unsign("session", signed) == "token"
    assert signer.unsign("flash", signed) is None
    assert signer.unsign("session", signed[:-1] + ("A" if signed[-1] != "A" else "B")) is None
    assert Signer("other").unsign("session", signed) is None
    assert signer.unsign("session", None) is None and signer.unsign("session", "nodot") is None


def test_snippets_fill_in_the_site() -> None:
    found = {s.key: s for s in snippets("blog.example.org", database="/srv/lb.db", prefix="/lb/")}
    assert set(found) == {"wsgi", "flask", "django", "jinja2", "static"}
    assert 'sites=["blog.example.org"]' in found["wsgi"].code and '"/srv/lb.db"' in found["wsgi"].code
    assert 'prefix="/lb/"' in found["wsgi"].code and '"prefix": "/lb/"' in found["flask"].code
    assert "https://blog.example.org/lb/linkbacks.js" in found["static"].code
