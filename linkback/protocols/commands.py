"""``linkback send``: notify the pages a page of ours links to."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from ..errors import LinkbackError
from .sender import DEFAULT_HOST_DELAY, PROTOCOLS, Sender, SendResult, prepare, send_planned


@click.command("send")
@click.argument("page_url")
@click.option(
    "--html",
    "html_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the page's HTML from this file instead of fetching PAGE_URL.",
)
@click.option("--force", is_flag=True, help="Send again even to targets notified before.")
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    type=click.Choice(PROTOCOLS),
    help="Only use this protocol (repeatable). Default: all, Webmention first.",
)
@click.option(
    "--delay",
    type=click.FloatRange(0, 60),
    default=DEFAULT_HOST_DELAY,
    show_default=True,
    help="Minimum seconds between two requests to one host.",
)
@click.option(
    "--allow-private-networks",
    is_flag=True,
    help="Also notify pages on loopback and private addresses.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list.")
@click.pass_context
def send(
    ctx: click.Context,
    page_url: str,
    html_file: str | None,
    force: bool,
    protocols: tuple[str, ...],
    delay: float,
    allow_private_networks: bool,
    as_json: bool,
) -> None:
    """Send Webmentions, Pingbacks or Trackbacks for the links in PAGE_URL.

    Finds the links in the page's content, discovers each target's endpoint and notifies
    it. Results are kept in the database: a re-run sends only what changed, and tells
    Webmention receivers about links that were removed. Exits with status 1 if any
    notification failed.

    Example: linkback send https://example.com/2024/hello --html build/2024/hello/index.html
    """
    from ..cli import open_store

    store = open_store(ctx, create=True)
    html: bytes | None = None
    if html_file is not None:
        try:
            with open(html_file, "rb") as f:
                html = f.read()
        except OSError as e:
            raise click.ClickException("cannot read %s: %s" % (html_file, e)) from None
    sender = Sender(
        allow_private_networks=allow_private_networks,
        protocols=protocols or PROTOCOLS,
        host_delay=delay,
    )
    try:
        plan = prepare(
            page_url,
            html=html,
            store=store,
            session=sender.session,
            allow_private_networks=allow_private_networks,
        )
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    if not plan.targets:
        click.echo("No outbound links in %s." % page_url)
        return
    with click.progressbar(length=len(plan.targets), label="Sending", file=sys.stderr) as bar:
        try:
            results = send_planned(
                plan, sender, store=store, force=force, progress=lambda _result: bar.update(1)
            )
        except LinkbackError as e:
            raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], indent=2, ensure_ascii=False))
    else:
        _table(results)
    if any(r.failed for r in results):
        ctx.exit(1)


def _table(results: list[SendResult]) -> None:
    columns = ("outcome", "protocol", "status", "target", "detail")
    rows = [[r.outcome, r.protocol or "", str(r.status or ""), r.target, r.detail] for r in results]
    widths = [min(60, max(len(c), *(len(row[i]) for row in rows))) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    click.echo("\n" + ", ".join("%d %s" % (n, outcome) for outcome, n in sorted(counts.items())))
