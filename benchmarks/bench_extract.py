"""Extraction throughput on the corpus pages, beside lxml parsing alone and mf2py.

Each page is analysed at the URL it was fetched from, with the middle one of its links to
other sites as the target (a mention of ours would be one), so that verification, the blurb,
the permalink search and the aggregators' readers do the work a crawl gives them. Four
figures, measured in this one run on the same decoded pages:

* lxml parse alone (the physical reference: extraction cannot be faster than parsing), as
  :func:`~linkback.extract.parse_html` calls lxml's HTML parser (the page handed over as
  UTF-8, libxml2's own encoding, which parses faster than a ``str``);
* linkback's :func:`~linkback.extract.analyse` with ``details=False``: parse + verify +
  title + blurb + permalink (the extraction the targets are set for);
* :func:`~linkback.extract.analyse` as the crawler calls it: all that, and the author,
  published date, site name and favicon;
* ``mf2py.parse`` (what Python Webmention receivers commonly use), when installed.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linkback import dom, extract

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
#: Seconds each measurement runs for, about.
BUDGET = 3.0
QUICK = "analyse(details=False): verify, title, blurb, permalink"
FULL = "analyse(): also author, date, site name, favicon"


#: Where the pelican test site lives (its feeds and links say so).
PELICAN_SITE = "http://blog.notmyidea.org/"
#: The aggregator pages' own URLs, as aggregator-pages/SOURCE.md gives them.
AGGREGATOR_URLS = {
    "blog-skipper/news.ycombinator.html": "https://news.ycombinator.com/item?id=16909056",
    "blog-skipper/reddit.html":
        "https://www.reddit.com/r/aww/comments/8dyrb3/ben_is_very_proud_of_himself_for_learning_to_go/",
    "newhackers/comments.html": "https://news.ycombinator.com/item?id=4705067",
    "newhackers/ask_comments.html": "https://news.ycombinator.com/item?id=4655144",
    "newhackers/no_comments.html": "https://news.ycombinator.com/item?id=4706068",
    "newhackers/front_page.html": "https://news.ycombinator.com/",
    "trafilatura/reddit.com.init.html":
        "https://www.reddit.com/r/Python/comments/1bbbwk/whats_your_opinion_on_what_to_include_in_init_py/",
}


def page_url(path: Path, tree: Any) -> str:
    """The URL a page was fetched from, as the crawler would know it.

    The corpus records it (blog-pages/index.json, aggregator-pages/SOURCE.md, the pelican
    site's address); a page it does not name is taken at its canonical URL, else at a
    made-up one. The URL matters: a permalink is looked for on the page's own site.
    """
    if CORPUS / "blog-pages" in path.parents:
        name = path.relative_to(CORPUS / "blog-pages").as_posix()
        for item in json.loads((CORPUS / "blog-pages" / "index.json").read_text()):
            if item["file"] == name and item["url"].startswith("http"):
                return item["url"].split()[0]
    if CORPUS / "pelican-output" / "custom" in path.parents:
        return PELICAN_SITE + path.relative_to(CORPUS / "pelican-output" / "custom").as_posix()
    if CORPUS / "aggregator-pages" in path.parents:
        url = AGGREGATOR_URLS.get(path.relative_to(CORPUS / "aggregator-pages").as_posix())
        if url:
            return url
    return extract.canonical_url(tree, "https://unknown.example/") or "https://%s.example/" % path.stem.replace("_", "-")[:40].strip(".-")


def pages() -> list[tuple[str, str, str]]:
    """(html, url, target) for every corpus blog, listing and aggregator page."""
    files = sorted((CORPUS / "blog-pages").rglob("*.html"))
    files += sorted((CORPUS / "pelican-output" / "custom").rglob("*.html"))
    files += sorted((CORPUS / "aggregator-pages").rglob("*.html"))
    found = []
    for path in files:
        html = extract.decode_html(path.read_bytes())
        tree = extract.parse_html(html)
        if tree is None:
            continue
        url = page_url(path, tree)
        # The middle one of the links to other sites, as a mention of ours would be.
        links = [u for _el, u in extract.find_links(tree, url) if not dom.same_site(u, url)]
        target = links[len(links) // 2] if links else "https://nothing.example/"
        found.append((html, url, target))
    return found


def measure(work: dict[str, Callable[[str, str, str], Any]],
            corpus: list[tuple[str, str, str]]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Pages per second of each function over the corpus, and the seconds of each pass.

    The functions take turns, one pass over the corpus each, for about :data:`BUDGET`
    seconds each: a shared machine's changing load then weighs on all of them alike.
    """
    spent = dict.fromkeys(work, 0.0)
    passes: dict[str, list[float]] = {name: [] for name in work}
    for fn in work.values():  # warm up
        for html, url, target in corpus[:3]:
            fn(html, url, target)
    while min(spent.values()) < BUDGET:
        for name, fn in work.items():
            if spent[name] >= BUDGET:
                continue
            start = time.perf_counter()
            for html, url, target in corpus:
                fn(html, url, target)
            passes[name].append(time.perf_counter() - start)
            spent[name] += passes[name][-1]
    rates = {name: len(corpus) * len(passes[name]) / spent[name] for name in work}
    for name, rate in rates.items():
        print("  %-56s %6.0f pages/s" % (name, rate))
    return rates, passes


def relative(passes: dict[str, list[float]], name: str, reference: str) -> float:
    """Throughput of ``name`` as a fraction of ``reference``'s: the median, over the turns in
    which both ran, of the two passes' times (taken one right after the other, so a change
    in the machine's load between turns does not count)."""
    pairs = list(zip(passes[reference], passes[name], strict=False))
    return statistics.median(ours / theirs for ours, theirs in pairs)


def run() -> None:
    if not CORPUS.is_dir():
        print("  ../shared/corpus is not present; skipped")
        return
    corpus = pages()
    size = sum(len(h) for h, _u, _t in corpus) / len(corpus)
    print("  %d pages, %.0f kB on average" % (len(corpus), size / 1000))
    work: dict[str, Callable[[str, str, str], Any]] = {
        "lxml parse alone": lambda h, u, t: extract.parse_html(h),
        QUICK: lambda h, u, t: extract.analyse(h, u, t, details=False),
        FULL: lambda h, u, t: extract.analyse(h, u, t),
    }
    try:
        import mf2py
    except ImportError:
        mf2py = None
        print("  mf2py is not installed (pip install -e '.[test]'); skipped")
    else:
        work["mf2py.parse"] = lambda h, u, t: mf2py.parse(doc=h, url=u)
    rates, passes = measure(work, corpus)
    for name, label in ((QUICK, "analyse(details=False)"), (FULL, "analyse()")):
        line = "  %-30s %4.1f %% of parse alone" % (label, 100.0 * relative(passes, name, "lxml parse alone"))
        if mf2py is not None:
            line += ", %.0f× mf2py" % (rates[name] / rates["mf2py.parse"])
        print(line)
