"""The shell around every screen: what the base template needs (the app
navigation, the user's other tenants, the bell's unread count) and the Jinja
helpers every template shares (``icon``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request, url_for
from jinja2 import pass_context
from markupsafe import Markup, escape

from metacrm.access import pools as pool_service
from metacrm.platform import identity as identities
from metacrm.plugins import context
from metacrm.rules.automation import notifications as inbox
from metacrm.ui.i18n import locale_name
from metacrm.ui.rendered import RenderedMarkup, placeholder_csrf_token
from metacrm.ui.screens import current_app_of_user, nav_apps, nav_bar_count, nav_objects

ICON_SPRITE = "vendor/icons-1.13.1.svg"


def init_shell(app: Flask) -> None:
    app.context_processor(_shell_context)
    app.jinja_env.globals.update(icon=icon, navbar=navbar)


def icon(name: str, label: str | None = None) -> Markup:
    """An icon of the sprite; decorative unless ``label`` names it."""
    if "icon_sprite" not in g:  # a page shows ~20 icons: build the sprite's URL once
        g.icon_sprite = url_for("static", filename=ICON_SPRITE)
    href = f"{g.icon_sprite}#{escape(name)}"
    accessible = f'role="img" aria-label="{escape(label)}"' if label else 'aria-hidden="true"'
    # width/height keep an icon small even before the stylesheet applies.
    return Markup(
        f'<svg class="bi" width="16" height="16" {accessible} focusable="false"><use href="{href}"></use></svg>'
    )


def _shell_context() -> dict[str, Any]:
    identity = g.get("identity")
    if identity is None or identity.two_factor_pending:
        return {
            "nav": [],
            "nav_shown": 0,
            "nav_apps": [],
            "nav_app": None,
            "works_a_pool": False,
            "unread_notifications": 0,
            "other_tenants": [],
        }
    return {
        "nav": nav_objects(),
        "nav_shown": nav_bar_count(),
        "nav_apps": nav_apps(),
        "nav_app": current_app_of_user(),
        "works_a_pool": works_a_pool(),
        # Known when the view read it (the notifications page); else the bells fetch it after load.
        "unread_notifications": g.get("unread_notifications"),
        "other_tenants": other_tenants(),
    }


_shell_context.page_only = True  # a fragment (listing.render_block) has no shell: skip the queries


def works_a_pool() -> bool:
    """Whether the navigation offers the public pools: the user works or
    administers one (by role without a query; pools open to teams ask)."""
    guard = context.guard()
    pools = guard.policy.pools.values()
    if any(guard.policy.member_of(guard.roles, pool) for pool in pools):
        return True
    if not any(pool.member_teams for pool in pools):
        return False
    return bool(pool_service.visible_pools(guard, g.tenant, context.model()))


def unread_notifications() -> int:
    """The bell's count (read once per request)."""
    if "unread_notifications" not in g:
        user_id = g.identity.user_id
        g.unread_notifications = inbox.unread_count(g.tenant, user_id) if user_id is not None else 0
    return g.unread_notifications


def other_tenants() -> list[str]:
    """The other organisations the user belongs to, for the tenant switcher."""
    if "other_tenants" not in g:
        identity = g.identity
        if identity.tenant_count <= 1:  # counted with the identity: no query for most users
            g.other_tenants = []
            return g.other_tenants
        slugs = identities.tenants_of(current_app.extensions["metacrm"], identity.user_id) if identity.user_id else []
        g.other_tenants = [slug for slug in slugs if slug != identity.tenant_slug]
    return g.other_tenants


# -- the top bar, rendered once per distinct input ------------------------------------------

NAVBAR_TEMPLATE = "shell/navbar.html"
_navbars = RenderedMarkup(size=1000)


@pass_context
def navbar(ctx) -> Markup:
    """The top bar of a page. Its markup is a pure function of the inputs in
    :func:`_navbar_key` (who, which tenant and revision, which language,
    which screen is active, what the shell context computed), so a bar
    rendered once is reused for the same inputs: about a fifth of a list
    page's rendering (issue 10, item 11)."""

    def render() -> str:
        values = {**ctx.get_all(), "csrf_token": placeholder_csrf_token}
        return ctx.environment.get_template(NAVBAR_TEMPLATE).render(values)

    return Markup(_navbars.get(_navbar_key(ctx), render))


def navbar_key() -> tuple:
    """:func:`_navbar_key` of this request's page, before its template renders
    (what holds the bar, kept, must be kept by the bar's key too)."""
    values: dict[str, Any] = dict(current_app.jinja_env.globals)
    current_app.update_template_context(values)  # the context processors, as render_template runs them
    return _navbar_key(values)


def _navbar_key(ctx) -> tuple:
    """Everything the bar's markup depends on. Labels, apps and objects come
    from the model's revision in the user's language; the rest is what the
    shell context and the identity hold, and the screen being shown."""
    identity, tenant = g.identity, g.tenant
    nav_app = ctx.get("nav_app")
    search = request.args.get("q", "") if request.endpoint == "ui.search" else ""
    return (
        identity.tenant_id,
        tenant.slug,
        tenant.name,
        context.model().revision,
        identity.user_id,
        identity.email,
        identity.display_name,
        locale_name(),
        request.script_root,
        request.endpoint,
        (request.view_args or {}).get("object"),
        search,
        tuple(obj.api_name for obj in ctx.get("nav") or ()),
        ctx.get("nav_shown"),
        tuple(app.api_name for app in ctx.get("nav_apps") or ()),
        nav_app.api_name if nav_app else None,
        ctx.get("works_a_pool"),
        ctx.get("unread_notifications"),
        tuple(ctx.get("other_tenants") or ()),
        bool(ctx["may_setup"]()),
    )
