"""Pages of the Linkback manager: login, overview, the linkbacks table, one linkback, the feed."""

from __future__ import annotations

import importlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from .. import urls
from ..store import KINDS, STATUSES
from . import auth, blacklist, charts
from .feed import atom_feed

if TYPE_CHECKING:
    from .app import AdminApp, Context

logger = logging.getLogger(__name__)

#: Rows per page of the linkbacks table.
PAGE_SIZE = 50

#: Bulk actions on linkbacks → what the button says.
ACTIONS = {
    "approve": "Approve",
    "hide": "Hide",
    "recrawl": "Re-crawl",
    "blacklist": "Blacklist source domain",
    "delete": "Delete",
}

SORTS = {
    "value": "Value",
    "hits": "Hits",
    "visitors": "Visitors",
    "first_seen": "First seen",
    "last_seen": "Last seen",
}


def _cursor(raw: str | None) -> tuple[Any, int] | None:
    """A keyset cursor from the query string: JSON ``[sort value, id]``."""
    if not raw:
        return None
    try:
        value, ident = json.loads(raw)
    except (ValueError, TypeError):
        raise BadRequest("bad page cursor") from None
    if not isinstance(ident, int) or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest("bad page cursor")
    return value, ident


def _preview_block(row: dict[str, Any], display: dict[str, Any]) -> Markup | None:
    """The linkback as readers see it, with its site's display options; ``None`` without
    the display module."""
    try:
        # The module, not the function of the same name that linkback exports.
        render = importlib.import_module("linkback.render")
    except ImportError:
        return None
    options = render.resolve_options(display, {"heading": None}, strict=(False, True))
    item = render.entry(row, options)
    return render.block_html([item], [], options)


class LinkbackPages:
    """Login, overview, linkbacks table and detail, feed (mixed into :class:`AdminApp`)."""

    # --- account ------------------------------------------------------------------------------

    def on_login(self: AdminApp, ctx: Context) -> Response:
        request = ctx.request
        if request.method == "GET" and self.auth.session(request.cookies.get(auth.SESSION_COOKIE)):
            return redirect(ctx.url_for("overview"), 303)
        token, new_cookie = self.auth.login_token(request.cookies.get(auth.LOGIN_COOKIE))
        if new_cookie:
            ctx.set_cookies.append((auth.LOGIN_COOKIE, new_cookie, {"max_age": 3600}))
        next_url = self.safe_next(ctx, request.values.get("next")) or ""
        if request.method == "GET":
            return self.render(ctx, "login.html", login_token=token, next=next_url, name="")
        if not self.auth.login_token_ok(request.cookies.get(auth.LOGIN_COOKIE), request.form.get("csrf")):
            return self.render(
                ctx, "login.html", status=403, login_token=token, next=next_url, name="",
                error="The login form had expired. Please try again.",
            )
        name = request.form.get("name", "")
        result = self.auth.login(
            name, request.form.get("password", ""), address=request.remote_addr or "",
            user_agent=request.headers.get("User-Agent", ""),
        )
        if result.token is None:
            status = 429 if result.locked_for > 0 else 401
            error = result.error or "Wrong user name or password."
            if result.locked_for > 0:
                error = "Too many failed logins. Try again in %d minutes." % max(1, round(result.locked_for / 60))
            response = self.render(
                ctx, "login.html", status=status, login_token=token, next=next_url, name=name[:64],
                error=error,
            )
            if result.locked_for > 0:
                response.headers["Retry-After"] = str(int(result.locked_for) + 1)
            return response
        ctx.set_cookies.append(
            (auth.SESSION_COOKIE, self.auth.cookie_value(result.token), {"max_age": auth.SESSION_IDLE})
        )
        return redirect(next_url or ctx.url_for("overview"), 303)

    def on_logout(self: AdminApp, ctx: Context) -> Response:
        assert ctx.session is not None
        self.auth.logout(ctx.session)
        response = redirect(ctx.url_for("login"), 303)
        response.delete_cookie(auth.SESSION_COOKIE, **self.cookie_options(ctx))
        return response

    # --- overview -----------------------------------------------------------------------------

    def on_overview(self: AdminApp, ctx: Context) -> Response:
        store = self.store
        overview = store.admin_overview(now=self.clock())
        stats = self.middleware.stats() if self.middleware is not None else None
        oldest = overview["oldest_due"]
        return self.render(
            ctx, "overview.html", o=overview, stats=stats,
            oldest_age=_age(self.clock() - oldest) if oldest else None,
        )

    # --- the linkbacks table ------------------------------------------------------------------

    def on_linkbacks(self: AdminApp, ctx: Context) -> Response:
        args = ctx.request.args
        filters: dict[str, Any] = {}
        for name, allowed in (("status", STATUSES), ("kind", KINDS)):
            value = args.get(name) or None
            if value is not None and value not in allowed:
                raise BadRequest("unknown %s" % name)
            filters[name] = value
        filters["site"] = args.get("site") or None
        target = (args.get("target") or "").strip()
        if target:
            filters["target"] = urls.normalize_url(target) or target
        search = (args.get("q") or "").strip()[:200]
        filters["search"] = search or None
        sort = args.get("sort", "value")
        if sort not in SORTS:
            raise BadRequest("unknown sort")
        descending = args.get("dir", "desc") != "asc"
        after, before = _cursor(args.get("after")), _cursor(args.get("before"))
        start = args.get("start", "0")
        start = int(start) if start.isdigit() and len(start) < 10 else 0
        try:
            page = self.store.admin_linkbacks(
                **filters, sort=sort, descending=descending, after=after, before=before, limit=PAGE_SIZE,
            )
        except ValueError as e:
            raise BadRequest(str(e)) from None
        rows = page["rows"]
        # Keep every filter in the links; drop the paging ones, which each link sets anew.
        keep = {k: v for k, v in args.items() if k not in ("after", "before", "start") and v}

        def link(**change: Any) -> str:
            values = dict(keep)
            values.update({k: v for k, v in change.items() if v is not None})
            for key in [k for k, v in change.items() if v is None]:
                values.pop(key, None)
            return ctx.url_for("linkbacks") + ("?" + urlencode(values) if values else "")

        next_link = prev_link = None
        if rows:
            first, last = rows[0], rows[-1]
            after_last = json.dumps([last[sort], last["id"]])
            before_first = json.dumps([first[sort], first["id"]])
            if before is not None:  # came back from a later page: one lies ahead for sure
                next_link = link(after=after_last, start=start + PAGE_SIZE)
                if page["more"]:
                    prev_link = link(before=before_first, start=max(0, start - PAGE_SIZE))
                else:
                    start = 0
            else:
                if page["more"]:
                    next_link = link(after=after_last, start=start + PAGE_SIZE)
                if after is not None:
                    prev_link = link(before=before_first, start=max(0, start - PAGE_SIZE))
        sort_links = {
            key: link(sort=key, dir="asc" if key == sort and descending else None)
            for key in SORTS
        }
        return self.render(
            ctx, "linkbacks.html", rows=rows, total=page["total"], start=start,
            filters={**filters, "target": target, "search": search}, sort=sort, descending=descending,
            sorts=SORTS, sort_links=sort_links, next_link=next_link, prev_link=prev_link,
            first_link=link() if (after or before) else None, actions=ACTIONS,
            sites=[s["host"] for s in self.store.sites()], kinds=KINDS,
            here=self._relative(ctx.request),
        )

    def on_linkbacks_action(self: AdminApp, ctx: Context) -> Response:
        form = ctx.request.form
        action = form.get("action", "")
        if action not in ACTIONS:
            raise BadRequest("unknown action")
        ids = self.form_ids(ctx)
        if not ids:
            ctx.flash("Select at least one linkback first.", "warn")
            return self.back(ctx, "linkbacks")
        store = self.store
        if action == "approve":
            approved, requeued = store.approve_linkbacks(ids)
            message = "%d approved." % approved
            if requeued:
                message += " %d never verified: sent back to the crawler." % requeued
            skipped = len(ids) - approved - requeued
            if skipped:
                message += " %d left as they were (not verified, or blocked)." % skipped
            ctx.flash(message)
        elif action == "hide":
            ctx.flash("%d hidden." % store.set_linkbacks_status(ids, "hidden"))
        elif action == "recrawl":
            ctx.flash("%d queued for crawling now." % store.recrawl_linkbacks(ids, now=time.time()))
        elif action == "delete":
            ctx.flash("%d deleted." % store.delete_linkbacks(ids))
            if form.get("from") == "detail":
                return redirect(ctx.url_for("linkbacks"), 303)
        else:
            self.blacklist_sources(ctx, ids)
        return self.back(ctx, "linkbacks")

    def blacklist_sources(self: AdminApp, ctx: Context, ids: list[int]) -> None:
        store = self.store
        patterns = set()
        for ident in ids:
            row = store.linkback(ident)
            if row is not None:
                pattern = blacklist.source_domain_pattern(row["source"])
                if pattern:
                    patterns.add(pattern)
        blocked = 0
        for pattern in sorted(patterns):
            store.add_blacklist(pattern, note="from the linkbacks table")
            blocked += blacklist.block(store, pattern)
        self.blacklist_changed()
        ctx.flash("Blacklisted %s; %d linkbacks blocked." % (", ".join(sorted(patterns)) or "nothing", blocked))

    # --- one linkback -------------------------------------------------------------------------

    def on_linkback(self: AdminApp, ctx: Context, linkback_id: int) -> Response:
        store = self.store
        row = store.linkback(linkback_id)
        if row is None:
            raise NotFound("No such linkback.")
        site = store.site(row["site"]) if row["site"] else None
        display = site["display"] if site else {}
        days = store.daily(linkback_id)
        return self.render(
            ctx, "linkback.html", row=row, site=site,
            preview=_preview_block(row, display),
            stylesheet=_stylesheet(),
            history=store.crawl_history(linkback_id),
            job=store.crawl_job(linkback_id),
            chart=charts.traffic_chart(days),
            days=days,
            recency=charts.explain_recency(row["recency_bias"]),
            fraud=charts.explain_fraud(row["hits"], row["value"], row["fraud_pct"]),
            actions=ACTIONS,
            domain_pattern=blacklist.source_domain_pattern(row["source"]),
        )

    # --- the feed -----------------------------------------------------------------------------

    def on_feed(self: AdminApp, ctx: Context, token: str) -> Response:
        user = self.store.user_by_feed_token(token) if 20 <= len(token) <= 64 else None
        if user is None:
            raise NotFound()
        root = ctx.request.host_url.rstrip("/")
        body = atom_feed(
            self.store.recently_verified(limit=50),
            feed_url=root + ctx.url_for("feed", token=token),
            home_url=root + ctx.url_for("overview"),
            detail_url=lambda ident: root + ctx.url_for("linkback", linkback_id=ident),
        )
        response = Response(body, content_type="application/atom+xml; charset=utf-8")
        response.headers["X-Robots-Tag"] = "noindex"
        return response


def _stylesheet() -> Markup:
    try:
        from ..render import stylesheet
    except ImportError:
        return Markup("")
    return stylesheet()


def _age(seconds: float) -> str:
    """12 s, 5 min, 3 h, 2 days."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return "%d s" % seconds
    if seconds < 90 * 60:
        return "%d min" % (seconds / 60)
    if seconds < 36 * 3600:
        return "%d h" % (seconds / 3600)
    return "%d days" % (seconds / 86400)

