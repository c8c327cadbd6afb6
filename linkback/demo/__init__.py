"""``linkback demo``: an example blog, three sites that link to it, and a burst of visits.

Everything runs on loopback with one command; Ctrl-C stops it.
"""

from __future__ import annotations

import logging
import time

import click

from .scenario import Demo, backfill, create_login, simulate, start, verify

__all__ = ["Demo", "backfill", "commands", "create_login", "simulate", "start", "verify"]


@click.command("demo")
@click.option("--port", default=8000, show_default=True, help="Port of the example blog.")
@click.option("--dir", "workdir", default="demo-data", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo keeps its database.")
@click.option("--keep", is_flag=True, help="Reuse the database of the last run instead of starting afresh.")
def demo(port: int, workdir: str, keep: bool) -> None:
    """Run the example blog with linkbacks from three referring sites.

    Example: linkback demo --port 8000
    """
    # The servers' request lines would bury what the demo prints.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    click.echo("Starting the demo in %s/ (%s)." % (
        workdir, "reusing the last run's database" if keep else "fresh database; --keep reuses the last one"))
    running = start(workdir, port=port, keep=keep)
    try:
        for name, url in running.referrers.items():
            click.echo("  referring site: %-40s %s" % (name, url))
        sent = simulate(running)
        click.echo("Sent %(visitors)d visits from readers, %(replayed)d replayed by one client, "
                   "%(bot)d from a bot and %(spoofed)d with a spoofed Referer." % sent)
        counted = backfill(running)
        click.echo("Imported three weeks of history from a generated access log (%d hits)." % counted)
        summary = verify(running)
        click.echo("Crawled the referring pages: %s." % ", ".join(
            "%s %s" % (v, k) for k, v in sorted(summary.items()) if isinstance(v, int) and v))
        running.middleware.start()
        create_login(running)
        click.echo("")
        click.echo("  Example post with its linkbacks:  %s" % running.post("hello-linkback"))
        click.echo("  A discussed post (fraud figures): %s" % running.post("fraud-compensation"))
        click.echo("  Linkback manager:                 %s" % running.admin)
        click.echo("      log in as %s / %s" % (running.username, running.password))
        click.echo("  The database:                     %s" % running.database)
        click.echo("")
        click.echo("Press Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("\nStopping.")
    finally:
        running.stop()


commands = [demo]
