"""Permalink accuracy on the multi-entry blog pages of ../shared/corpus.

For every listing page (blog front pages, paginated indexes, categories, tags, authors,
link blogs) the expected permalink of each entry comes from outside the extractor:
Pelican's Atom feed (exact), or, for the captured real blogs, a selector written by hand
for that one theme (the entry element and its title link, as a reader would point them
out). Two kinds of link are checked per entry:

* *natural*: every link already in the entry's text whose URL occurs in no other entry;
* *inserted*: a link to a fresh target added to the entry's text, as a mention of our
  site would be.

Each link is handed to :func:`linkback.extract.analyse` as the target and the permalink
found is compared with the expected one (compared loosely, as linkback compares URLs).

Run: ``.venv/bin/python scripts/permalink_accuracy.py [CORPUS_DIR]``
"""

from __future__ import annotations

import copy
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkback import dom, extract  # noqa: E402

INSERTED_TARGET = "https://mentioned.example/some/page"
PELICAN_SITE = "http://blog.notmyidea.org/"


@dataclass
class PageSpec:
    """A listing page and how a person finds its entries, their permalinks and text."""

    file: str
    url: str
    entry: str          # XPath of entries on the page
    permalink: str      # XPath (from the entry) of the permalink's href
    content: str        # XPath (from the entry) of the entry's text, where links are taken
    raw_http: bool = False


#: Hand-written selectors for the captured real blogs (one theme each).
PAGES = [
    PageSpec("blog-pages/html_trawl/wp-elliott-index.html", "http://example.com/",
             "//article[contains(@class, 'hentry')]", "(.//header/h2/a)[1]/@href",
             ".//div[contains(@class, 'entry-content')]"),
    PageSpec("blog-pages/html_trawl/danwin-index-5.html", "http://danwin.com/articles/page/5/",
             "//article[contains(@class, 'hentry')]",
             "(.//h1[contains(@class, 'entry-title')]/a)[1]/@href",
             ".//div[contains(@class, 'entry-content')]"),
    PageSpec("blog-pages/php-mf2/fberriman.com.html", "http://fberriman.com/",
             "//article[contains(@class, 'hentry')]",
             "(.//h1[contains(@class, 'entry-title')]/a)[1]/@href",
             ".//div[contains(@class, 'entry-content')]"),
    PageSpec("blog-pages/indieweb-utils/index2.html", "https://jamesvandyne.com/",
             "//li[.//a[normalize-space() = 'permalink']]",
             ".//a[normalize-space() = 'permalink']/@href",
             ".//div[contains(@class, 'trix-content')]"),
    PageSpec("blog-pages/indieweb-utils/representative_page.html", "https://aaronparecki.com/",
             "//li[contains(@class, 'h-entry')]",
             "(.//div[contains(@class, 'metaline')]/a[contains(@class, 'u-url')])[1]/@href",
             ".//div[contains(@class, 'e-content')]"),
    PageSpec("blog-pages/indieweb-utils/author2.html", "https://aaronparecki.com/",
             "//li[contains(@class, 'h-entry')]",
             "(.//div[contains(@class, 'metaline')]/a[contains(@class, 'u-url')])[1]/@href",
             ".//div[contains(@class, 'e-content')]"),
    PageSpec("xray-testdata/data/feed.example.com/adactio-links", "https://adactio.com/links",
             "//article[contains(@class, 'h-entry')]", "(.//a[@rel = 'bookmark'])[1]/@href",
             ".", raw_http=True),
    PageSpec("xray-testdata/data/feed.example.com/waterpigs", "https://waterpigs.co.uk/",
             "//*[contains(concat(' ', @class, ' '), ' h-entry ')]",
             "(.//a[contains(concat(' ', @class, ' '), ' u-url ') and @rel = 'bookmark'])[1]/@href",
             ".//*[contains(concat(' ', @class, ' '), ' e-content ')]", raw_http=True),
]

#: Pelican listing pages; the entries' permalinks come from the feed.
PELICAN_PAGES = [
    "index.html", "index2.html", "index3.html", "category/cat1.html", "category/misc.html",
    "category/bar.html", "category/yeah.html", "tag/bar.html", "tag/baz.html", "tag/foo.html",
    "tag/foobar.html", "tag/yeah.html", "author/alexis-metaireau.html",
    "author/alexis-metaireau2.html", "author/alexis-metaireau3.html",
]


@dataclass
class Row:
    page: str
    entries: int = 0
    natural: int = 0
    natural_ok: int = 0
    inserted: int = 0
    inserted_ok: int = 0

    @property
    def checked(self) -> int:
        return self.natural + self.inserted

    @property
    def correct(self) -> int:
        return self.natural_ok + self.inserted_ok


def _read(path: Path, raw_http: bool) -> str:
    data = path.read_bytes()
    if raw_http:
        head, _, data = data.partition(b"\r\n\r\n") if b"\r\n\r\n" in data[:4096] else data.partition(b"\n\n")
    return extract.decode_html(data)


def _own(anchor: Any, entry: Any, entries: list[Any]) -> bool:
    """True when ``anchor``'s nearest enclosing listed entry is ``entry``."""
    for parent in anchor.iterancestors():
        if parent in entries:
            return parent is entry
    return False


def _check_page(label: str, html: str, url: str, spec: PageSpec, expected_of: Any) -> Row:
    tree = extract.parse_html(html)
    row = Row(label)
    entries = list(tree.xpath(spec.entry))
    row.entries = len(entries)
    base = extract.base_url(tree, url)
    # Natural links: a link whose URL appears in exactly one entry.
    owners: dict[str, set[int]] = {}
    for index, entry in enumerate(entries):
        for anchor in entry.iter("a"):
            target = dom.resolve(base, anchor.get("href"))
            if target and _own(anchor, entry, entries):
                owners.setdefault(dom.link_key(target) or target, set()).add(index)
    for index, entry in enumerate(entries):
        expected = expected_of(entry, base)
        if not expected:
            continue
        contents = entry.xpath(spec.content) or [entry]
        seen = set()
        for content in contents:
            for anchor in content.iter("a"):
                target = dom.resolve(base, anchor.get("href"))
                key = dom.link_key(target) if target else None
                if (not key or key in seen or owners.get(key) != {index} or not _own(anchor, entry, entries)
                        or key == dom.link_key(expected)):
                    continue
                seen.add(key)
                row.natural += 1
                found = extract.analyse(tree, url, target).permalink
                row.natural_ok += dom.link_key(found or "") == dom.link_key(expected)
        # Inserted link: a mention of a fresh target at the end of the entry's text.
        copied = copy.deepcopy(tree)
        copied_entry = copied.xpath(spec.entry)[index]
        content = (copied_entry.xpath(spec.content) or [copied_entry])[0]
        mention = lxml.etree.SubElement(content, "p")
        mention.text = "I wrote about "
        link = lxml.etree.SubElement(mention, "a", href=INSERTED_TARGET)
        link.text = "this page"
        link.tail = " last week."
        row.inserted += 1
        found = extract.analyse(copied, url, INSERTED_TARGET).permalink
        row.inserted_ok += dom.link_key(found or "") == dom.link_key(expected)
    return row


def _pelican_feed(corpus: Path) -> dict[str, str]:
    """Post title → permalink, from Pelican's Atom feed."""
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.parse(corpus / "pelican-output/custom/feeds/all.atom.xml").getroot()
    titles = {}
    for item in root.iter(atom + "entry"):
        title = (item.findtext(atom + "title") or "").strip()
        for link in item.iter(atom + "link"):
            if link.get("rel", "alternate") == "alternate":
                titles[title] = link.get("href")
    return titles


def measure(corpus: Path) -> list[Row]:
    """Check every page; one row per page."""
    rows = []
    for spec in PAGES:
        html = _read(corpus / spec.file, spec.raw_http)

        def expected_of(entry: Any, base: str, spec: PageSpec = spec) -> str | None:
            hrefs = entry.xpath(spec.permalink)
            return dom.resolve(base, str(hrefs[0])) if hrefs else None

        rows.append(_check_page(spec.file, html, spec.url, spec, expected_of))
    feed = _pelican_feed(corpus)
    for name in PELICAN_PAGES:
        path = corpus / "pelican-output/custom" / name
        spec = PageSpec(name, PELICAN_SITE + name, "//article", "", ".//div[contains(@class, 'entry-content')]")

        def from_feed(entry: Any, base: str) -> str | None:
            for heading in entry.iter("h1", "h2", "h3"):
                title = dom.visible_text(heading)
                if title in feed:
                    return feed[title]
            return None

        html = extract.decode_html(path.read_bytes())
        rows.append(_check_page("pelican-output/" + name, html, spec.url, spec, from_feed))
    return rows


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table, with a total line."""
    lines = [
        "| page | entries | natural links | inserted links | correct | accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append("| %s | %d | %d/%d | %d/%d | %d/%d | %s |" % (
            row.page, row.entries, row.natural_ok, row.natural, row.inserted_ok, row.inserted,
            row.correct, row.checked, "%.0f %%" % (100.0 * row.correct / row.checked) if row.checked else "–",
        ))
    checked = sum(r.checked for r in rows)
    correct = sum(r.correct for r in rows)
    lines.append("| **all %d pages** | %d | %d/%d | %d/%d | %d/%d | **%.1f %%** |" % (
        len(rows), sum(r.entries for r in rows), sum(r.natural_ok for r in rows), sum(r.natural for r in rows),
        sum(r.inserted_ok for r in rows), sum(r.inserted for r in rows), correct, checked,
        100.0 * correct / checked if checked else 0.0,
    ))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        print("no corpus at %s" % corpus, file=sys.stderr)
        return 2
    print(table(measure(corpus)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
