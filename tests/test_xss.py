"""Hostile text in every displayed field ends up inert: escaped text, http(s)-only URLs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from werkzeug.test import Client

from linkback import LinkbackMiddleware
from linkback.render import DisplayOptions, block_html, clean_text, entry
from linkback.store import Store

PAGE = "https://example.com/posts/hello"

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus '",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java&#x09;script:alert(1)",
    "&#106;avascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "<!--<script>alert(1)//-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\u202egnp.exe",
    "\u2066evil\u2069 \u200fRTL\u200e",
    "\x00<script>alert(1)</script>",
    "{{ 7*7 }} {% raw %} ${alert(1)} {n} {site}",
    '<a href="javascript:alert(1)">x</a>',
    "<style>body{display:none}</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<base href=https://evil.example/>",
    "<meta http-equiv=refresh content='0;url=https://evil.example/'>",
    "`-alert(1)-`",
    "\x1f\x7f\x85\u2028\u2029",
    "https://ok.example/\"><script>alert(1)</script>",
    "https://ok.example/' onmouseover='alert(1)",
    "https://ok.example/\njavascript:alert(1)",
    "https://ok.example/#\"><img src=x onerror=alert(1)>",
    "//evil.example/",
    "https://user:pass@evil.example/",
    "https://ok.example/" + "a" * 5000,
]

TEXT_FIELDS = ("title", "site_name", "author_name", "blurb", "published")
URL_FIELDS = ("permalink", "author_url", "favicon", "author_photo")

ALLOWED_TAGS = {"section", "h2", "ol", "li", "a", "span", "time", "p", "mark", "img", "link", "div"}
ALLOWED_ATTRIBUTES = {
    "class", "href", "rel", "target", "dir", "datetime", "src", "alt", "width", "height",
    "loading", "referrerpolicy", "aria-hidden", "data-count",
}


def assert_inert(markup: str) -> None:
    """The block holds only our own tags and attributes, and only http(s) URLs."""
    if not markup:
        return
    assert "<script" not in markup.lower()
    tree = lxml_html.fragment_fromstring(markup, create_parent="div")
    for element in tree.iterdescendants():
        assert element.tag in ALLOWED_TAGS, element.tag
        for name, value in element.attrib.items():
            assert name in ALLOWED_ATTRIBUTES, (name, value)
            if name in ("href", "src"):
                if element.tag == "link":
                    assert value == "/.linkback/linkbacks.css"
                else:
                    assert value.startswith(("http://", "https://")), value
                    assert not any(c in value for c in " \t\n\"'<>`"), value
            if name == "rel":
                assert value in ("nofollow ugc", "stylesheet"), value
        if element.tag == "img":
            assert "linkbacks__favicon" in element.get("class", "")
        if element.tag == "link":
            assert element.get("rel") == "stylesheet"


@pytest.fixture
def store(db_path: str) -> Any:
    store = Store(db_path)
    yield store
    store.close()


@pytest.mark.parametrize("payload", PAYLOADS, ids=[repr(p)[:40] for p in PAYLOADS])
def test_payload_in_every_field_is_inert(store: Store, payload: str) -> None:
    from linkback.render import Renderer

    columns: dict[str, Any] = {name: payload for name in TEXT_FIELDS + URL_FIELDS}
    columns["blurb_start"], columns["blurb_end"] = 0, min(len(payload), 5)
    store.add_linkback(payload, PAGE, status="verified", **columns)
    columns["permalink"] = payload + " "
    store.add_linkback(payload + " ", PAGE, status="verified", kind="discussion", **columns)
    markup = str(Renderer(store, stylesheet_href="/.linkback/linkbacks.css").render(
        PAGE, show_images=True, empty="none"
    ))
    assert_inert(markup)
    tree = lxml_html.fragment_fromstring(markup, create_parent="div")
    shown = clean_text(payload)
    if shown:
        # The text is shown as text, exactly: escaped, never interpreted.
        assert tree.find_class("linkbacks__title")[0].text_content() == shown
        assert tree.find_class("linkbacks__site")[0].text_content() in (clean_text(payload, 80), "ok.example")


@given(
    fields=st.fixed_dictionaries(
        {name: st.one_of(st.none(), st.text(max_size=60)) for name in TEXT_FIELDS + URL_FIELDS}
    ),
    url_tail=st.text(max_size=30),
    start=st.integers(-5, 80),
    end=st.integers(-5, 80),
    kind=st.sampled_from(["referrer", "webmention", "discussion", "bogus"]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_row_renders_inert(
    fields: dict[str, Any], url_tail: str, start: int, end: int, kind: str
) -> None:
    row = dict(fields, kind=kind, blurb_start=start, blurb_end=end, visitors=3, points=1,
               comments=2, first_seen="2026-01-01T00:00:00Z", source="https://a.example/" + url_tail)
    options = DisplayOptions(show_images=True)
    item = entry(row, options)
    discussions = [item] if kind == "discussion" else []
    markup = str(block_html([item], discussions, options, "/.linkback/linkbacks.css"))
    assert_inert(markup)
    # And the JSON form carries only what the HTML shows.
    for key in ("url", "author_url", "favicon", "author_photo"):
        value = item.get(key)
        assert value is None or value.startswith(("http://", "https://"))
    json.dumps(item)


def test_json_api_html_is_inert(db_path: str) -> None:
    store = Store(db_path)
    for index, payload in enumerate(PAYLOADS):
        store.add_linkback("https://a.example/%d" % index, PAGE, status="verified",
                           title=payload, blurb=payload, author_name=payload, site_name=payload,
                           author_url=payload)
    store.close()
    app = LinkbackMiddleware(lambda e, s: [], db_path, sites=["example.com"], crawl=False)
    try:
        response = Client(app).get("/.linkback/api/linkbacks", query_string={"url": PAGE})
        data = response.get_json()
        assert response.status_code == 200
        assert_inert(data["html"])
        for item in data["linkbacks"]:
            assert item["author_url"] is None or item["author_url"].startswith("https://ok.example/")
            assert not any(c in (item["author_url"] or "") for c in "\"'<> ")
    finally:
        app.close()


@pytest.mark.parametrize("payload", PAYLOADS[::3], ids=[repr(p)[:40] for p in PAYLOADS[::3]])
def test_payload_rendered_from_the_entry_cache_is_the_same(store: Store, payload: str) -> None:
    from linkback.render import Renderer

    columns: dict[str, Any] = {name: payload for name in TEXT_FIELDS + URL_FIELDS}
    columns["blurb_start"], columns["blurb_end"] = 0, min(len(payload), 5)
    store.add_linkback("https://ok.example/a", PAGE, status="verified", **columns)
    renderer = Renderer(store)
    cold = str(renderer.render(PAGE, show_images=True, empty="none"))
    renderer.clear(entries=False)
    assert str(renderer.render(PAGE, show_images=True, empty="none")) == cold
    assert_inert(cold)


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_escaping_is_markupsafes(text: str) -> None:
    from markupsafe import escape

    from linkback.render import _esc

    assert _esc(text) == str(escape(text))


@given(st.lists(st.text(alphabet=st.sampled_from("ab<>&\"'\x00 é"), max_size=12), max_size=9))
@settings(max_examples=500, deadline=None)
def test_escaping_many_at_once_is_escaping_each(texts: list[str]) -> None:
    from linkback.render import _esc, _esc_all

    assert list(_esc_all(*texts)) == [_esc(text) for text in texts]


@given(st.text(max_size=200))
@settings(max_examples=500, deadline=None)
def test_safe_url_never_lets_anything_unsafe_through(value: str) -> None:
    from linkback.render import safe_url

    for candidate in (value, "https://a.example/" + value, "http://" + value):
        result = safe_url(candidate)
        if result is not None:
            assert result.startswith(("http://", "https://"))
            assert result.isascii()
            assert not any(c in result for c in " \t\r\n\"'<>`\\")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_beacon_parser_never_raises(body: bytes) -> None:
    from linkback.display_api import _beacon_data

    result = _beacon_data(body)
    assert result is None or all(isinstance(part, str) for part in result)


def test_a_quote_in_a_fragment_is_escaped() -> None:
    from linkback.render import safe_url

    # Found by the property test above: the fragment kept "'" as written.
    assert safe_url("https://a.example/p#it's") == "https://a.example/p#it%27s"
