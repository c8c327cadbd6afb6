"""The ``linkback`` command line. Each command only calls the library.

Commands from other parts of linkback (crawler, admin, protocols, demo) live beside the code
they drive and are added here from :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sqlite3
import sys
import zlib
from typing import Any

import click

from . import __version__
from .config import Options
from .errors import LinkbackError
from .filters import HitFilter
from .logs import ImportSummary, import_log, open_log
from .store import KINDS, LINKBACK_FIELDS, STATUSES, Store
from .writer import ephemeral_salts

#: Modules that define a ``commands`` list of click commands to add to ``linkback``.
COMMAND_MODULES = (
    "linkback.crawler",
    "linkback.admin",
    "linkback.protocols",
    "linkback.demo",
)


def open_store(ctx: click.Context, *, create: bool = False) -> Store:
    """The store named by ``--db``; a missing file is an error unless ``create``."""
    path = ctx.obj["db"]
    if not create and not os.path.exists(path):
        raise click.ClickException("no database at %s (give --db PATH)" % path)
    try:
        return Store(path)
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", default="linkback.db", show_default=True, envvar="LINKBACK_DB",
    type=click.Path(dir_okay=False), help="The SQLite database file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.version_option(__version__, prog_name="linkback")
@click.pass_context
def main(ctx: click.Context, db: str, verbose: bool) -> None:
    """Show every page of your site who links to it.

    Example: linkback --db site.db linkbacks --status verified
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.ensure_object(dict)
    ctx.obj["db"] = db


@main.command("linkbacks")
@click.option("--url", "target", help="Only linkbacks to this page of ours.")
@click.option("--status", type=click.Choice(STATUSES), help="Only linkbacks with this status.")
@click.option("--kind", type=click.Choice(KINDS), help="Only linkbacks of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def linkbacks_command(ctx: click.Context, target: str | None, status: str | None, kind: str | None, as_json: bool) -> None:
    """List linkbacks, highest value first.

    Example: linkback linkbacks --url https://example.com/post --json
    """
    from .urls import normalize_url

    store = open_store(ctx)
    if target is not None:
        normalized = normalize_url(target)
        if normalized is None:
            raise click.ClickException("not an http(s) URL: %s" % target)
        target = normalized
    try:
        rows = store.linkbacks(target=target, status=status, kind=kind)
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    except sqlite3.Error as e:  # a file that is damaged or not a database
        raise click.ClickException("cannot read %s: %s" % (ctx.obj["db"], e)) from None
    finally:
        store.close()
    items = [{key: row[key] for key in LINKBACK_FIELDS} for row in rows]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("No linkbacks.")
        return
    columns = ("status", "kind", "hits", "value", "visitors", "fraud_pct", "recency_bias", "source", "target")
    table = [[_cell(item[c]) for c in columns] for item in items]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(columns)]
    widths = [min(w, 60) for w in widths]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in table:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return ("%.1f" % value).rstrip("0").rstrip(".") if value % 1 else "%d" % value
    return str(value)


@main.command("import-log")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--site", required=True, help="The domain the log belongs to, e.g. example.com.")
@click.option("--scheme", type=click.Choice(["https", "http"]), default="https", show_default=True,
              help="Scheme of the site's pages.")
@click.option("--blacklist-file", "blacklist_files", multiple=True, type=click.Path(dir_okay=False),
              help="A referrer-spam host list to apply (repeatable).")
@click.pass_context
def import_log_command(ctx: click.Context, files: tuple[str, ...], site: str, scheme: str,
                       blacklist_files: tuple[str, ...]) -> None:
    """Backfill linkbacks from access logs (combined format, plain or .gz).

    Example: linkback import-log /var/log/nginx/access.log* --site example.com
    """
    for path in files:
        if not os.path.isfile(path):
            raise click.ClickException("no such file: %s" % path)
    try:
        options = Options.from_kwargs(sites=[site], blacklist_files=list(blacklist_files))
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    store = open_store(ctx, create=True)
    patterns = [row["pattern"] for row in store.blacklist()]
    hit_filter = HitFilter(options)
    hit_filter.set_extra_patterns(patterns)
    store.ensure_sites(options.sites)
    summary = ImportSummary()
    salts = ephemeral_salts()
    total = sum(os.path.getsize(p) for p in files)
    current = files[0]
    try:
        with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
            for current in files:
                with open_log(current) as stream:
                    import_log(store, stream, hit_filter, scheme=scheme, summary=summary,
                               progress=bar.update, salts=salts)
    except (OSError, EOFError, zlib.error) as e:
        raise click.ClickException("cannot read %s: %s" % (current, e)) from None
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    finally:
        store.close()
    click.echo("Lines read:      %d" % summary.lines)
    click.echo("Hits counted:    %d" % summary.counted)
    click.echo("New linkbacks:   %d" % summary.new_linkbacks)
    skipped = sum(summary.skipped.values())
    click.echo("Skipped:         %d" % skipped)
    for reason, count in summary.skipped.most_common():
        click.echo("  %-17s %d" % (reason, count))


def _add_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            if e.name != name:
                raise
            continue
        for command in getattr(module, "commands", ()):
            main.add_command(command)


_add_commands()
