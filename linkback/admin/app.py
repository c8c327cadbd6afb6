"""The Linkback manager: a small server-rendered WSGI application (werkzeug + Jinja2).

Shaped like werkzeug's "shortly" example: one ``url_map``, an ``on_<endpoint>`` method per
page (in :mod:`.pages` and :mod:`.manage`), Jinja2 templates with autoescaping. Every
request but the login page and the secret feed URL needs a session; every POST needs the
session's CSRF token. Pages work without JavaScript; a small script adds conveniences.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..store import STATUSES, Store
from . import auth
from .manage import ManagePages
from .pages import LinkbackPages

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

#: Largest request body accepted (forms only; nothing is uploaded).
MAX_BODY = 256 * 1024

#: Endpoints that answer without a session.
PUBLIC = frozenset({"login", "feed"})

# No inline script or style without the response's nonce, no plugins, no framing, no
# foreign form targets: an escaping slip cannot become script execution or clickjacking.
CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}';"
    " img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'"
)


@dataclass
class Context:
    """One request as the pages see it."""

    request: Request
    adapter: MapAdapter
    nonce: str
    session: dict[str, Any] | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)
    set_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def url_for(self, endpoint: str, **values: Any) -> str:
        return self.adapter.build(endpoint, values)

    def flash(self, message: str, kind: str = "ok") -> None:
        """A message shown on the next page (after a redirect)."""
        self.flashes.append((kind, message))


def _asset(name: str) -> str:
    return resources.files("linkback.admin").joinpath("static/" + name).read_text("utf-8")


class AdminApp(LinkbackPages, ManagePages):
    """The Linkback manager as a WSGI application.

    :param store: the database, or a callable returning it (the middleware's store).
    :param secret_key: signs cookies; by default a random key kept in the database, so
        every process sharing the file accepts the same cookies.
    :param mount: the path the application lives under inside ``PATH_INFO`` (the middleware
        passes ``/.linkback/admin``); empty when it is served on its own.
    :param middleware: the running middleware, told when the blacklist changes.
    :param database: the database path shown in "Get code" snippets.
    :param prefix: the middleware prefix shown in "Get code" snippets.
    :param clock: returns the time in seconds (tests pass their own).

    >>> app = AdminApp(Store("linkback.db"))           # doctest: +SKIP
    >>> werkzeug.serving.run_simple("127.0.0.1", 8080, app)  # doctest: +SKIP
    """

    url_map = Map(
        [
            Rule("/", endpoint="overview"),
            Rule("/login", endpoint="login", methods=["GET", "POST"]),
            Rule("/logout", endpoint="logout", methods=["POST"]),
            Rule("/linkbacks", endpoint="linkbacks"),
            Rule("/linkbacks/action", endpoint="linkbacks_action", methods=["POST"]),
            Rule("/linkbacks/<int:linkback_id>", endpoint="linkback"),
            Rule("/sites", endpoint="sites", methods=["GET", "POST"]),
            Rule("/sites/<host>", endpoint="site", methods=["GET", "POST"]),
            Rule("/sites/<host>/preview", endpoint="site_preview"),
            Rule("/sites/<host>/remove", endpoint="site_remove", methods=["POST"]),
            Rule("/blacklist", endpoint="blacklist", methods=["GET", "POST"]),
            Rule("/blacklist/remove", endpoint="blacklist_remove", methods=["POST"]),
            Rule("/account", endpoint="account", methods=["GET", "POST"]),
            Rule("/feed/<token>.atom", endpoint="feed"),
        ],
        strict_slashes=False,
    )

    def __init__(
        self,
        store: Store | Callable[[], Store],
        *,
        secret_key: str | bytes | None = None,
        mount: str = "",
        middleware: Any = None,
        database: str | None = None,
        prefix: str = "/.linkback/",
        config_blacklist: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.mount = mount.rstrip("/")
        self.middleware = middleware
        self.database = database or self.store.path
        self.prefix = prefix
        self.config_blacklist = tuple(config_blacklist)
        self.clock = clock
        if secret_key is None:
            secret_key = self.store.setting_default("admin_secret_key", secrets.token_hex(32))
        self.signer = auth.Signer(secret_key)
        self.auth = auth.Auth(self.store, self.signer, clock)
        self.jinja = Environment(
            loader=PackageLoader("linkback.admin", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.jinja.filters["number"] = _number
        self.jinja.filters["when"] = _when
        self.jinja.globals["STATUSES"] = STATUSES
        self.css = Markup(_asset("admin.css"))
        self.js = Markup(_asset("admin.js"))

    @property
    def store(self) -> Store:
        store = self._store
        return store if isinstance(store, Store) else store()

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.mount:
            path = environ.get("PATH_INFO", "")
            if not path.startswith(self.mount):
                return NotFound()(environ, start_response)
            environ = dict(environ)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.mount
            environ["PATH_INFO"] = path[len(self.mount):]
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        request.max_form_memory_size = MAX_BODY
        ctx = Context(request, self.url_map.bind_to_environ(environ), secrets.token_urlsafe(16))
        try:
            response = self.dispatch(ctx)
        except HTTPException as e:
            response = self.error_page(ctx, e)
        return self.finish(ctx, response)(environ, start_response)

    def dispatch(self, ctx: Context) -> Response:
        request = ctx.request
        try:
            endpoint, args = ctx.adapter.match()
        except HTTPException:
            endpoint, args = None, {}
        if endpoint not in PUBLIC:
            ctx.session = self.auth.session(request.cookies.get(auth.SESSION_COOKIE))
            if ctx.session is None:
                # Nothing but the login page answers without a session, not even a 404.
                if request.method in ("GET", "HEAD"):
                    return redirect(ctx.url_for("login", next=self._relative(request)), 303)
                raise Forbidden("Your session has ended. Log in again.")
            if request.method == "POST":
                self.check_post(ctx)
        if endpoint is None:
            ctx.adapter.match()  # raises the 404 or 405 again, now for a logged-in user
        return getattr(self, "on_" + str(endpoint))(ctx, **args)

    def check_post(self, ctx: Context) -> None:
        """Refuse a state-changing request that another site could have sent."""
        request = ctx.request
        origin = request.headers.get("Origin")
        # Browsers send Origin on cross-site POSTs; a mismatch is a forgery whatever the token.
        if origin and origin != "null" and _origin(origin) != _origin(request.host_url):
            raise Forbidden("This form was sent from another site.")
        assert ctx.session is not None
        if not self.auth.csrf_ok(ctx.session, request.form.get("csrf")):
            raise Forbidden("This form has expired. Go back, reload the page and try again.")

    def finish(self, ctx: Context, response: Response) -> Response:
        """Security headers, cookies, and flashes carried over a redirect."""
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP.format(nonce=ctx.nonce))
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        # Links to linking sites must not tell them the admin's (or the feed's secret) URL.
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        for name, value, options in ctx.set_cookies:
            response.set_cookie(name, value, **self.cookie_options(ctx), **options)
        if ctx.flashes and 300 <= response.status_code < 400:
            value = self.signer.sign("flash", json.dumps(ctx.flashes[:5]))
            response.set_cookie(auth.FLASH_COOKIE, value, max_age=60, **self.cookie_options(ctx))
        elif ctx.request.cookies.get(auth.FLASH_COOKIE) and response.status_code < 300:
            response.delete_cookie(auth.FLASH_COOKIE, **self.cookie_options(ctx))
        return response

    def cookie_options(self, ctx: Context) -> dict[str, Any]:
        return {
            "path": (ctx.request.script_root or "") + "/",
            "httponly": True,
            "samesite": "Lax",
            "secure": ctx.request.scheme == "https",
        }

    # --- rendering ----------------------------------------------------------------------------

    def render(self, ctx: Context, template: str, *, status: int = 200, **values: Any) -> Response:
        flashes = list(ctx.flashes)
        carried = self.signer.unsign("flash", ctx.request.cookies.get(auth.FLASH_COOKIE))
        if carried:
            try:
                flashes = [(str(k), str(m)) for k, m in json.loads(carried)] + flashes
            except (ValueError, TypeError):
                pass
        body = self.jinja.get_template(template).render(
            ctx=ctx,
            url_for=ctx.url_for,
            session=ctx.session,
            csrf=ctx.session["csrf"] if ctx.session else "",
            flashes=flashes,
            nonce=ctx.nonce,
            css=self.css,
            js=self.js,
            **values,
        )
        return Response(body, status=status, content_type="text/html; charset=utf-8")

    def error_page(self, ctx: Context, error: HTTPException) -> Response:
        if error.code in (301, 302, 303, 307, 308):
            return error.get_response(ctx.request.environ)  # type: ignore[return-value]
        response = self.render(
            ctx, "error.html", status=error.code or 500, code=error.code, name=error.name,
            description=error.description,
        )
        if error.code == 429 and getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    def back(self, ctx: Context, endpoint: str, **values: Any) -> Response:
        """Redirect after a POST (303) to ``next`` when it is an admin page, else ``endpoint``."""
        target = self.safe_next(ctx, ctx.request.form.get("next") or ctx.request.args.get("next"))
        return redirect(target or ctx.url_for(endpoint, **values), 303)

    def safe_next(self, ctx: Context, target: str | None) -> str | None:
        """``target`` when it is a path inside the admin: no open redirect to other sites."""
        if not target:
            return None
        root = (ctx.request.script_root or "") + "/"
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not target.startswith(root) or target.startswith("//"):
            return None
        if "\\" in target or any(ord(c) < 32 for c in target):
            return None
        return target

    @staticmethod
    def _relative(request: Request) -> str:
        query = request.query_string.decode("latin-1")
        return (request.script_root or "") + request.path + ("?" + query if query else "")

    # --- helpers for pages --------------------------------------------------------------------

    @staticmethod
    def form_ids(ctx: Context) -> list[int]:
        ids = []
        for value in ctx.request.form.getlist("id"):
            if not value.isdigit() or len(value) > 18:
                raise BadRequest("bad linkback id")
            ids.append(int(value))
        return ids[:1000]

    def blacklist_changed(self) -> None:
        """Tell the running middleware to reload the blacklist now rather than in 30 s."""
        writer = getattr(self.middleware, "writer", None)
        if writer is not None and hasattr(writer, "reload_blacklist_soon"):
            writer.reload_blacklist_soon()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _number(value: Any, digits: int = 0) -> str:
    """1234.5 → '1,235'; with ``digits``, that many decimals."""
    if value is None:
        return ""
    if digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _when(value: Any) -> str:
    """An ISO time or epoch seconds as 'YYYY-MM-DD HH:MM' UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(value))
    text = str(value)
    return text[:16].replace("T", " ") if len(text) >= 16 else text
