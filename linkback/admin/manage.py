"""Pages of the Linkback manager: sites, display options, blacklist, account."""

from __future__ import annotations

import functools
import importlib
import logging
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from publicsuffixlist import PublicSuffixList
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from .. import urls
from ..errors import LinkbackError
from ..store import KINDS
from . import auth, blacklist
from .pages import _stylesheet
from .snippets import snippets

if TYPE_CHECKING:
    from .app import AdminApp, Context

logger = logging.getLogger(__name__)

#: The display options form: (option, input type, label, help).
DISPLAY_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("limit", "int", "Entries shown", "At most this many linkbacks per page."),
    ("order", "order", "Order", "Score favours recent traffic; newest is by first seen."),
    ("max_age", "days", "Time limit (days)", "Leave out linkbacks not seen for this long. Empty: no limit."),
    ("min_visitors", "float", "Visitor threshold", "Referrers need at least this many visitors."),
    ("min_value", "float", "Minimum value", "Referrers need at least this compensated value."),
    ("kinds", "kinds", "Kinds listed", ""),
    ("heading", "text", "Heading", "Empty: no heading."),
    ("heading_level", "int", "Heading level", "1 to 6."),
    ("empty", "text", "When there is nothing to show", "Empty: render nothing at all."),
    ("max_blurb", "int", "Longest blurb (characters)", ""),
    ("date_format", "text", "Date format", "strftime format; empty: 3 Mar 2024."),
    ("rel", "text", "Link rel", "Search engines read nofollow ugc as: not endorsed."),
    ("show_blurb", "bool", "Show blurbs", ""),
    ("show_author", "bool", "Show authors", ""),
    ("show_date", "bool", "Show dates", ""),
    ("show_visitors", "bool", "Show visitor counts", ""),
    ("discussions", "bool", "Discussion badges", "Hacker News, Reddit, Lobsters… above the list."),
    ("new_tab", "bool", "Open links in a new tab", ""),
    ("show_images", "bool", "Show favicons and author photos",
     "They load from the linking sites, which then see your readers."),
    ("stylesheet", "bool", "Link the default stylesheet", ""),
)

#: A preview of a site without verified linkbacks shows these.
SAMPLE_ROWS = (
    {
        "kind": "referrer", "permalink": "https://blog.example.org/2024/notes", "title":
        "Notes on building small web tools", "site_name": "Example Blog", "author_name": "Ada",
        "published": "2024-03-03", "first_seen": "2024-03-03T10:00:00Z", "visitors": 42,
        "blurb": "… a good read on the topic, see this write-up for the details of how it works …",
        "blurb_start": 43, "blurb_end": 56,
    },
    {
        "kind": "webmention", "permalink": "https://friend.example.net/replies/7", "title":
        "A reply", "site_name": "friend.example.net", "first_seen": "2024-02-11T08:00:00Z",
        "blurb": "Agreed with most of it.", "visitors": 0,
    },
)


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def parse_site(text: str) -> str:
    """A site from the form: a host or URL, normalised; ``ValueError`` saying why not."""
    raw = text.strip()
    if "://" in raw:
        url = urls.normalize_url(raw)
        host = urls.host_of(url) if url else None
    else:
        host = urls.normalize_host(raw.rstrip("/"))
    if not host:
        raise ValueError("%r is not a host name or URL" % raw[:100])
    if "." in host and not host.startswith("[") and _psl().is_public(host):
        raise ValueError("%s is a public suffix, not a site: give your own domain" % host)
    return host


def parse_display_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """The display options a submitted form sets (unvalidated, typed as options want)."""
    values: dict[str, Any] = {}
    # Unticked checkboxes send nothing: absence means False only in the whole form.
    whole = form.get("form") == "display"
    for name, kind, _label, _help in DISPLAY_FIELDS:
        if name not in form and not (whole and kind in ("bool", "kinds")):
            continue
        raw = form.get(name, "").strip()
        try:
            if kind == "bool":
                values[name] = form.get(name) == "on"
            elif kind == "kinds":
                values[name] = [k for k in form.getlist(name) if k in KINDS]
            elif kind == "int":
                values[name] = int(raw) if raw else 0
            elif kind in ("float", "days"):
                values[name] = float(raw) if raw else (None if kind == "days" else 0.0)
            elif kind == "text":
                values[name] = raw or None
                if name == "rel":
                    values[name] = raw
            else:
                values[name] = raw
        except ValueError:
            raise ValueError("%s: expected a number, got %r" % (name, raw[:40])) from None
    return values


def _render_module() -> Any:
    try:
        # The module, not the function of the same name that linkback exports.
        render = importlib.import_module("linkback.render")
    except ImportError:
        return None
    return render


class ManagePages:
    """Sites, display options, blacklist and account (mixed into :class:`AdminApp`)."""

    # --- sites --------------------------------------------------------------------------------

    def on_sites(self: AdminApp, ctx: Context) -> Response:
        store = self.store
        error = None
        if ctx.request.method == "POST":
            try:
                host = parse_site(ctx.request.form.get("host", ""))
            except ValueError as e:
                error = str(e)
            else:
                moderation = "hold" if ctx.request.form.get("moderation") == "hold" else "auto"
                if store.add_site(host, moderation=moderation):
                    ctx.flash("Added %s. Copy its code below to start counting." % host)
                else:
                    ctx.flash("%s was already there." % host, "warn")
                return redirect(ctx.url_for("site", host=host) + "#code", 303)
        counts = store.site_counts()
        return self.render(
            ctx, "sites.html", sites=store.sites(), counts=counts, error=error,
            configured=set(getattr(getattr(self.middleware, "options", None), "sites", ()) or ()),
            status=400 if error else 200,
        )

    def _site_or_404(self: AdminApp, host: str) -> dict[str, Any]:
        site = self.store.site(host)
        if site is None:
            raise NotFound("No such site.")
        return site

    def on_site(self: AdminApp, ctx: Context, host: str) -> Response:
        site = self._site_or_404(host)
        store = self.store
        render = _render_module()
        form = ctx.request.form
        errors: list[str] = []
        stored = dict(site["display"])
        shown = stored
        if ctx.request.method == "POST":
            if form.get("form") == "moderation":
                moderation = form.get("moderation")
                if moderation not in ("auto", "hold"):
                    raise BadRequest("moderation is auto or hold")
                store.set_site_moderation(host, moderation)
                ctx.flash(
                    "New verified linkbacks of %s are %s." % (
                        host, "published at once" if moderation == "auto" else "held for your approval",
                    )
                )
                return redirect(ctx.url_for("site", host=host), 303)
            if form.get("form") != "display" or render is None:
                raise BadRequest("unknown form")
            try:
                shown = self._checked_display(render, form, stored)
            except (ValueError, LinkbackError) as e:
                errors.append(str(e))
                shown = stored
            if not errors and form.get("do") != "preview":
                store.set_site_display(host, shown)
                ctx.flash("Display options of %s saved." % host)
                return redirect(ctx.url_for("site", host=host) + "#display", 303)
        options = render.options_dict(render.resolve_options(shown, strict=(False,))) if render else {}
        return self.render(
            ctx, "site.html", site=site, options=options, fields=DISPLAY_FIELDS, kinds=KINDS,
            errors=errors, preview=self._preview(ctx, host, shown), display_available=render is not None,
            snippets=snippets(host, database=self.database, prefix=self.prefix),
            unsaved=shown is not stored, status=400 if errors else 200, stylesheet_css=_stylesheet(),
        )

    @staticmethod
    def _checked_display(render: Any, form: MultiDict[str, str], stored: dict[str, Any]) -> dict[str, Any]:
        values = render.validate_options(parse_display_form(form))
        defaults = render.options_dict(render.DisplayOptions())
        # Keep only what differs from the defaults (and options this form does not edit),
        # so a later change of a default still reaches sites that never touched it.
        kept = {k: v for k, v in stored.items() if k not in values}
        kept.update({k: v for k, v in values.items() if defaults.get(k) != v})
        return kept

    def on_site_preview(self: AdminApp, ctx: Context, host: str) -> Response:
        """The preview fragment alone, for the form's live preview."""
        site = self._site_or_404(host)
        render = _render_module()
        try:
            options = self._checked_display(render, ctx.request.args, site["display"]) if render else {}
        except (ValueError, LinkbackError) as e:
            return Response(
                Markup('<p class="error">%s</p>') % str(e), status=400, content_type="text/html; charset=utf-8",
            )
        return Response(self._preview(ctx, host, options), content_type="text/html; charset=utf-8")

    def _preview(self: AdminApp, ctx: Context, host: str, options: dict[str, Any]) -> Markup:
        render = _render_module()
        if render is None:
            return Markup('<p class="muted">Previews need linkback.render, which is not installed.</p>')
        opts = render.resolve_options(options, strict=(False,))
        top = self.store.admin_linkbacks(site=host, status="verified", limit=1)["rows"]
        note = ""
        if top:
            listing = render.Renderer(self.store).listing(top[0]["target"], **render.options_dict(opts))
            entries, discussions = listing.entries, listing.discussions
            note = "As shown on %s" % top[0]["target"]
        else:
            entries = [render.entry(row, opts) for row in SAMPLE_ROWS]
            discussions = []
            note = "Sample linkbacks: %s has no verified linkbacks yet" % host
        block = render.block_html(entries, discussions if opts.discussions else [], opts)
        if not block:
            block = Markup('<p class="muted">(The block renders nothing for this page.)</p>')
        return Markup('<p class="preview-note">%s</p>%s') % (note, block)

    def on_site_remove(self: AdminApp, ctx: Context, host: str) -> Response:
        self._site_or_404(host)
        self.store.remove_site(host)
        ctx.flash("Removed %s from the sites; its linkbacks are kept." % host)
        return redirect(ctx.url_for("sites"), 303)

    # --- blacklist ----------------------------------------------------------------------------

    def on_blacklist(self: AdminApp, ctx: Context) -> Response:
        store = self.store
        pattern = ""
        error = None
        matches: list[dict[str, Any]] | None = None
        if ctx.request.method == "POST":
            pattern = ctx.request.form.get("pattern", "").strip()[:500]
            note = ctx.request.form.get("note", "").strip()[:200] or None
            try:
                pattern = urls.validate_pattern(pattern)
                matches = blacklist.matching(store, pattern)
            except ValueError as e:
                error = "Not a valid pattern: %s" % e
            else:
                if ctx.request.form.get("do") == "add":
                    store.add_blacklist(pattern, note)
                    blocked = blacklist.block(store, pattern)
                    self.blacklist_changed()
                    ctx.flash("Added %s; %d linkbacks blocked." % (pattern, blocked))
                    return redirect(ctx.url_for("blacklist"), 303)
        return self.render(
            ctx, "blacklist.html", patterns=store.blacklist(), config_patterns=self.config_blacklist,
            pattern=pattern, error=error, matches=matches[: blacklist.PREVIEW_ROWS] if matches else matches,
            match_count=len(matches or ()), status=400 if error else 200,
        )

    def on_blacklist_remove(self: AdminApp, ctx: Context) -> Response:
        store = self.store
        pattern = ctx.request.form.get("pattern", "")
        if pattern not in {row["pattern"] for row in store.blacklist()}:
            raise BadRequest("no such pattern")
        store.remove_blacklist(pattern)
        remaining = [row["pattern"] for row in store.blacklist()] + list(self.config_blacklist)
        freed = blacklist.unblock(store, pattern, remaining)
        self.blacklist_changed()
        ctx.flash("Removed %s; %d linkbacks sent back for verification." % (pattern, freed))
        return redirect(ctx.url_for("blacklist"), 303)

    # --- account ------------------------------------------------------------------------------

    def on_account(self: AdminApp, ctx: Context) -> Response:
        assert ctx.session is not None
        store = self.store
        user = store.user(ctx.session["user_id"])
        if user is None:
            raise NotFound()
        error = None
        form = ctx.request.form
        if ctx.request.method == "POST":
            if form.get("form") == "feed":
                store.reset_feed_token(user["id"])
                ctx.flash("Your feed has a new address; the old one no longer works.")
                return redirect(ctx.url_for("account"), 303)
            if form.get("form") != "password":
                raise BadRequest("unknown form")
            error = self.auth.reauthenticate(user, form.get("current", ""), address=ctx.request.remote_addr or "")
            if error is None:
                new = form.get("new", "")
                try:
                    auth.validate_password(new)
                except ValueError as e:
                    error = str(e)
                else:
                    if new != form.get("confirm"):
                        error = "The new passwords differ."
            if error is None:
                store.set_password(user["id"], auth.hash_password(form.get("new", "")))
                ctx.flash("Password changed. Every session has ended: log in with the new password.")
                return redirect(ctx.url_for("login"), 303)
        root = ctx.request.host_url.rstrip("/")
        return self.render(
            ctx, "account.html", user=user, error=error,
            feed_url=root + ctx.url_for("feed", token=user["feed_token"]),
            status=400 if error else 200,
        )
