"""``linkback admin`` and ``linkback create-user``: the Linkback manager from the command line."""

from __future__ import annotations

import ipaddress
import sys

import click

from ..errors import LinkbackError


@click.command("admin")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--secret-key", envvar="LINKBACK_SECRET_KEY",
              help="Key that signs session cookies (default: one kept in the database).")
@click.option("--behind-proxy", is_flag=True,
              help="Trust one reverse proxy's X-Forwarded-For/-Proto/-Host headers.")
@click.pass_context
def admin(ctx: click.Context, host: str, port: int, secret_key: str | None, behind_proxy: bool) -> None:
    """Serve the Linkback manager on its own, off the public application.

    Example: linkback --db site.db admin --host 127.0.0.1 --port 8080
    """
    from werkzeug.middleware.proxy_fix import ProxyFix
    from werkzeug.serving import run_simple

    from ..cli import open_store
    from .app import AdminApp

    store = open_store(ctx, create=True)
    try:
        app = AdminApp(store, secret_key=secret_key)
        users = store.users()
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    if not users:
        click.echo("No users yet: create one with `linkback create-user NAME`.", err=True)
    if not _loopback(host) and not behind_proxy:
        click.echo(
            "Warning: %s is reachable from other machines over plain HTTP; passwords and"
            " cookies would cross the network in clear. Serve it behind a TLS proxy"
            " (--behind-proxy) or on 127.0.0.1." % host,
            err=True,
        )
    wsgi = ProxyFix(app, x_for=1, x_proto=1, x_host=1) if behind_proxy else app
    click.echo("Linkback manager on http://%s:%d/ (Ctrl+C to stop)" % (host, port))
    run_simple(host, port, wsgi, threaded=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("create-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--update", is_flag=True, help="Change an existing user's password (ends their sessions).")
@click.pass_context
def create_user(ctx: click.Context, name: str, password_stdin: bool, update: bool) -> None:
    """Add an account to the Linkback manager (the password is prompted for).

    Example: linkback --db site.db create-user alice
    """
    from ..cli import open_store
    from .auth import hash_password, validate_password, validate_user_name

    try:
        name = validate_user_name(name)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        validate_password(password)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    store = open_store(ctx, create=True)
    try:
        existing = store.user_by_name(name)
        if existing is not None:
            if not update:
                raise click.ClickException("there is already a user named %s (use --update)" % name)
            store.set_password(existing["id"], hash_password(password))
            click.echo("Changed the password of %s." % existing["name"])
            return
        if update:
            raise click.ClickException("there is no user named %s" % name)
        store.create_user(name, hash_password(password))
    except LinkbackError as e:
        raise click.ClickException(str(e)) from None
    click.echo("Created %s." % name)
