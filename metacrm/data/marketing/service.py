"""Marketing, framework-free: segment counts, campaign members, mass
e-mail through the one outbox, open/click tracking, one-click unsubscribe
and public web-to-lead posts (docs/marketing.md).

Recipients are records of an object with an ``email`` field (crm_core's
lead and contact); ``email_opt_out`` (boolean) and ``preferred_language``
(``en`` / ``zh_cn``) are honoured when the object has them. Campaign
members are ``campaign_member`` records with a ``campaign`` lookup and one
lookup per recipient object, named after it (``lead``, ``contact``).

Everything a user starts runs through their record store (their guard:
a segment counts and mails only the records they may read, merge fields
show what they may see). What arrives without a user — a tracking pixel,
a click, an unsubscribe, a form post — is authorised by a signed token or
by the form's definition and acts through a :class:`SystemGuard` limited
to the actions it needs.
"""

from __future__ import annotations

import hashlib
import hmac
import html as html_lib
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import nh3
import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer

from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.metadata.store import MAX_BULK, MAX_LIMIT
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.config import ensure_secret_key
from metacrm.platform.errors import BadRequest, Conflict, NotFound, TooManyRequests, ValidationFailed
from metacrm.platform.settings import tenant_settings_of
from metacrm.plugins.records import ListRequest, list_page
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_outbox
from metacrm.rules.merge_fields import record_context, render

from .tables import marketing_form_posts, marketing_sends

MEMBER = "campaign_member"
OUTBOX_RULE = "marketing.mass_email"
RECIPIENT_FIELDS = ("email", "email_opt_out", "preferred_language")
# A member in one of these has already gone further than "sent": a new
# mailing keeps the status, only the counts and sent_at move.
ENGAGED = frozenset({"opened", "clicked", "responded", "unsubscribed"})
UNSUBSCRIBE_FIELD = "unsubscribe_url"
_HREF = re.compile(r"""href\s*=\s*(["'])(https?://[^"'\s>]+)\1""", re.IGNORECASE)
_SALT = "metacrm.marketing"
FORM_POST_WINDOW = timedelta(hours=1)
# What a preview shows of the HTML: the sanitiser's defaults without images
# (the screen's CSP would block outside ones anyway).
PREVIEW_TAGS = nh3.ALLOWED_TAGS - {"img"}
# A form field people never see (hidden by a class) but form-filling bots
# fill in: a post that has it is spam.
HONEYPOT = "contact_me_by_fax"


# -- segments -----------------------------------------------------------------------------


def segment(store, object_name: str, name: str) -> dict:
    """The segment ``name`` of ``object_name``; 404 when there is none."""
    definition = store.model.definitions.get("segment", f"{object_name}.{name}")
    if definition is None:
        raise NotFound(f"no segment {name!r} on {object_name}")
    return definition.document


def segment_count(store, object_name: str, name: str) -> int:
    """How many records of the segment the store's user may read (one SQL
    COUNT with the segment's condition and the user's scope)."""
    request = ListRequest(where=segment(store, object_name, name)["condition"], fields=[], limit=1, count=True)
    return list_page(store, object_name, request).total or 0


def _segment_records(store, object_name: str, condition: str, fields: list[str]) -> Iterator[dict]:
    request = ListRequest(where=condition, fields=fields, limit=MAX_LIMIT, sort="id")
    while True:
        page = list_page(store, object_name, request)
        yield from page.data
        if not page.next_cursor:
            return
        request = replace(request, cursor=page.next_cursor)


# -- campaign members ---------------------------------------------------------------------


def _recipient_objects(store) -> list[str]:
    """The objects a member can stand for: each lookup of campaign_member
    (but the campaign) to an object with an ``email`` field."""
    member = store.object(MEMBER)
    names = []
    for name, field_type in member.fields.items():
        if name != "campaign" and field_type.is_lookup:
            target = store.model.object(field_type.target)
            if target is not None and "email" in target.fields:
                names.append(name)
    return names


def add_members(store, campaign_id: Any, object_name: str, *, segment_name: str | None = None, ids=None) -> dict:
    """Add the records of a segment (or the listed ``ids``) of
    ``object_name`` to the campaign as members with status ``planned``;
    records already in it are left alone. ``{"added", "already"}``."""
    campaign = store.get("campaign", campaign_id, fields=[], action="update")
    if object_name not in _recipient_objects(store):
        raise ValidationFailed(
            f"{object_name} cannot be a campaign member",
            details={"fields": {"object": [f"one of {', '.join(_recipient_objects(store))}"]}},
        )
    if segment_name is not None:
        condition = segment(store, object_name, segment_name)["condition"]
        wanted = [record["id"] for record in _segment_records(store, object_name, condition, [])]
    else:
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValidationFailed("ids must be a list of record ids", details={"fields": {"ids": ["list of ids"]}})
        wanted = _readable_ids(store, object_name, ids)
    already = _member_ids(store, campaign["id"], object_name)
    new = [record_id for record_id in dict.fromkeys(wanted) if record_id not in already]
    for start in range(0, len(new), MAX_BULK):
        rows = [
            {"campaign": campaign["id"], object_name: i, "status": "planned"} for i in new[start : start + MAX_BULK]
        ]
        store.bulk_create(MEMBER, rows, read_back=False)
    return {"added": len(new), "already": len(wanted) - len(new)}


def _readable_ids(store, object_name: str, ids: list[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(ids), MAX_LIMIT):
        chunk = ",".join(str(i) for i in ids[start : start + MAX_LIMIT])
        page = store.query(object_name, filters=[("id", "in", chunk)], fields=[], limit=MAX_LIMIT)
        found += [record["id"] for record in page.data]
    return found


def _member_ids(store, campaign_id: int, object_name: str) -> set[int]:
    """The ids of the ``object_name`` records already members (every member,
    not only those the user can read: no one is added twice)."""
    obj = store.object(MEMBER)
    column = obj.table.c[object_name]
    with store.binding.connect() as conn:
        rows = conn.execute(
            sa.select(column).where(
                obj.table.c.campaign == campaign_id, column.is_not(None), obj.table.c.deleted_at.is_(None)
            )
        ).scalars()
        return set(rows)


def _not_yet_members(store, campaign_id: int, object_name: str, segment_name: str) -> int:
    """How many of the segment's records (that the user reads) would join
    the campaign and be mailed: not members yet, with an address, not opted out."""
    members = _member_ids(store, campaign_id, object_name)
    condition = segment(store, object_name, segment_name)["condition"]
    fields = [f for f in ("email", "email_opt_out") if f in store.object(object_name).fields]
    return sum(
        1
        for record in _segment_records(store, object_name, condition, fields)
        if record["id"] not in members and record.get("email") and not record.get("email_opt_out")
    )


def _members(store, campaign_id: int) -> Iterator[dict]:
    """The campaign's members the user may read, in id order."""
    request = ListRequest(filters=(("campaign", "eq", str(campaign_id)),), limit=MAX_LIMIT, sort="id")
    while True:
        page = list_page(store, MEMBER, request)
        yield from page.data
        if not page.next_cursor:
            return
        request = replace(request, cursor=page.next_cursor)


# -- mass e-mail --------------------------------------------------------------------------


def email_template(store, name: str) -> dict:
    definition = store.model.definitions.get("email_template", name)
    if definition is None:
        raise NotFound(f"no e-mail template {name!r}", details={"fields": {"template": ["no such template"]}})
    return definition.document


def template_text(template: dict, language: str | None) -> tuple[str, str]:
    """(subject, html) of ``template`` in ``language`` (``zh_CN``, ``zh_cn``,
    ``en``…), or its default text when it has no such translation."""
    translations = {key.lower(): value for key, value in (template.get("translations") or {}).items()}
    translated = translations.get((language or "").lower()) or {}
    return translated.get("subject") or template["subject"], translated.get("html") or template["html"]


def _require_unsubscribe_link(template: dict) -> None:
    texts = [template["html"], *[t.get("html", "") for t in (template.get("translations") or {}).values()]]
    if not all(UNSUBSCRIBE_FIELD in text for text in texts if text):
        raise ValidationFailed(
            f"a mass e-mail must let its recipients unsubscribe: put {{{{{UNSUBSCRIBE_FIELD}}}}} in the body "
            "of every language of the template",
            details={"fields": {"template": [f"no {{{{{UNSUBSCRIBE_FIELD}}}}} link"]}},
        )


class _Recipients:
    """Reads the members' leads and contacts in batches, as the sender sees them."""

    def __init__(self, store, objects: list[str]):
        self.store = store
        self.objects = objects

    def of(self, members: list[dict]) -> dict[tuple[str, int], dict]:
        found: dict[tuple[str, int], dict] = {}
        for object_name in self.objects:
            ids = [m[object_name]["id"] for m in members if isinstance(m.get(object_name), dict)]
            for start in range(0, len(ids), MAX_LIMIT):
                chunk = ",".join(str(i) for i in ids[start : start + MAX_LIMIT])
                page = self.store.query(object_name, filters=[("id", "in", chunk)], limit=MAX_LIMIT)
                found.update({(object_name, r["id"]): r for r in page.data})
        return found


def _recipient(member: dict, objects: list[str], records: dict) -> tuple[str, dict] | None:
    for object_name in objects:
        link = member.get(object_name)
        if isinstance(link, dict) and (object_name, link["id"]) in records:
            return object_name, records[(object_name, link["id"])]
    return None


def _skip_reason(member: dict, recipient: tuple[str, dict] | None) -> str | None:
    """Why a member gets no mail (a code the screens translate), or None."""
    if member.get("status") == "unsubscribed":
        return "unsubscribed"
    if recipient is None:
        return "not_readable"
    record = recipient[1]
    if record.get("email_opt_out"):
        return "opted_out"
    if not record.get("email"):
        return "no_address"
    return None


def _signer(instance) -> URLSafeSerializer:
    return URLSafeSerializer(ensure_secret_key(instance.config), salt=_SALT)


def tracking_token(instance, slug: str, member_id: int, action: str, url: str | None = None) -> str:
    """A signed token naming the tenant, the member and what the link does
    (``open``, ``click`` to ``url``, ``unsubscribe``)."""
    payload: dict[str, Any] = {"t": slug, "m": member_id, "a": action}
    if url is not None:
        payload["u"] = url
    return _signer(instance).dumps(payload)


def _with_tracking(instance, slug: str, member_id: int, html: str, base_url: str) -> str:
    """Every http(s) link through the click redirect (its target signed into
    the token, so the redirect can go nowhere else) and a 1×1 open pixel."""

    def wrap(match: re.Match) -> str:
        target = html_lib.unescape(match[2])
        if target.startswith(f"{base_url}/m/"):  # the unsubscribe link stays as it is
            return match[0]
        token = tracking_token(instance, slug, member_id, "click", target)
        return f"href={match[1]}{base_url}/m/c/{token}{match[1]}"

    pixel = (
        f'<img src="{base_url}/m/o/{tracking_token(instance, slug, member_id, "open")}" width="1" height="1" alt="">'
    )
    tracked = _HREF.sub(wrap, html)
    if "</body>" in tracked:
        return tracked.replace("</body>", pixel + "</body>", 1)
    return tracked + pixel


def _plain_text(html: str) -> str:
    """The text alternative of an HTML body: tags dropped, entities decoded."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h[1-6]>|</li>", "\n", html)
    text = re.sub(r"""(?is)<a\s[^>]*href=(["'])([^"']+)\1[^>]*>(.*?)</a>""", r"\3 (\2)", text)
    return html_lib.unescape(nh3.clean(text, tags=set())).strip()


def _schedule(conn, count: int, per_minute: int, now: datetime) -> list[datetime]:
    """When each of ``count`` new mails may leave: the tenant's mass e-mail
    fills minute slots of ``per_minute`` after what is already waiting."""
    pending = automation_outbox.c
    latest = conn.execute(
        sa.select(sa.func.max(pending.next_attempt_at)).where(pending.rule == OUTBOX_RULE, pending.status == "pending")
    ).scalar()
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=now.tzinfo)
    slot, used = now, 0
    if latest is not None and latest >= now - timedelta(minutes=1):
        slot = max(latest, now)
        used = conn.execute(
            sa.select(sa.func.count()).where(
                pending.rule == OUTBOX_RULE, pending.status == "pending", pending.next_attempt_at == latest
            )
        ).scalar_one()
        if slot != latest:
            used = 0
    times = []
    for _ in range(count):
        if used >= per_minute:
            slot, used = slot + timedelta(minutes=1), 0
        times.append(slot)
        used += 1
    return times


def mass_email(
    instance,
    store,
    campaign_id: Any,
    template_name: str,
    *,
    base_url: str,
    segment_object: str | None = None,
    segment_name: str | None = None,
    preview: bool = False,
) -> dict:
    """Mail the campaign's members (after adding a segment's records, when
    one is named) through the outbox, ``MASS_EMAIL_PER_MINUTE`` per minute
    for the tenant. Members who unsubscribed, whose lead or contact opted
    out or has no address, or whom the sender may not read are skipped.

    With ``preview`` nothing is written: the answer has the recipient
    count and the first recipient's rendered subject and body."""
    campaign = store.get("campaign", campaign_id, fields=[], action="update")
    template = email_template(store, template_name)
    _require_unsubscribe_link(template)
    if (segment_object is None) != (segment_name is None):
        raise ValidationFailed(
            "name both the segment's object and its name", details={"fields": {"segment": ["incomplete"]}}
        )
    base_url = base_url.rstrip("/")
    slug = store.binding.slug
    default_language = tenant_settings_of(instance, store.binding.tenant_id)["default_locale"]
    objects = _recipient_objects(store)
    # A preview adds nothing: the segment's records not yet members are counted on top.
    joining = 0
    if segment_name is not None:
        if preview:
            joining = _not_yet_members(store, campaign["id"], segment_object, segment_name)
        else:
            add_members(store, campaign["id"], segment_object, segment_name=segment_name)
    members = list(_members(store, campaign["id"]))
    records = _Recipients(store, objects).of(members)
    outgoing, skipped = [], {}
    for member in members:
        recipient = _recipient(member, objects, records)
        reason = _skip_reason(member, recipient)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        outgoing.append((member, recipient))
    if preview:
        answer: dict[str, Any] = {
            "recipients": len(outgoing) + joining,
            "skipped": skipped,
            "subject": None,
            "html": None,
        }
        if outgoing:
            member, (object_name, record) = outgoing[0]
            message = _render(
                instance, store, template, default_language, object_name, record, member, base_url, tracked=False
            )
            answer.update(subject=message["subject"], html=nh3.clean(message["html"], tags=PREVIEW_TAGS))
        return answer
    per_minute = max(int(instance.config.get("MASS_EMAIL_PER_MINUTE") or 60), 1)
    now = utcnow()
    queued_ids: list[int] = []
    due_now: list[int] = []
    with store.binding.begin() as conn:
        tx = store.nested(conn, depth=store.depth)
        times = _schedule(conn, len(outgoing), per_minute, now)
        updates = []
        for (member, (object_name, record)), at in zip(outgoing, times, strict=True):
            message = _render(instance, store, template, default_language, object_name, record, member, base_url)
            unsubscribe = f"{base_url}/m/u/{tracking_token(instance, slug, member['id'], 'unsubscribe')}"
            row_id = conn.execute(
                automation_outbox.insert()
                .values(
                    kind="email",
                    rule=OUTBOX_RULE,
                    object=MEMBER,
                    record_id=member["id"],
                    payload={
                        "to": record["email"],
                        "subject": message["subject"],
                        "body": _plain_text(message["html"]),
                        "html": message["html"],
                        "headers": {
                            "List-Unsubscribe": f"<{unsubscribe}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                        },
                    },
                    status="pending",
                    attempts=0,
                    next_attempt_at=at,
                    created_at=now,
                )
                .returning(automation_outbox.c.id)
            ).scalar_one()
            queued_ids.append(row_id)
            if at <= now:
                due_now.append(row_id)
            values = {"id": member["id"], "sent_at": now, "email": record["email"]}
            if member.get("status") not in ENGAGED:
                values["status"] = "sent"
            updates.append(values)
        for start in range(0, len(updates), MAX_BULK):
            tx.bulk_update(MEMBER, updates[start : start + MAX_BULK], read_back=False)
        conn.execute(
            marketing_sends.insert().values(
                campaign_id=campaign["id"],
                template=template_name,
                segment=f"{segment_object}.{segment_name}" if segment_name else None,
                queued=len(outgoing),
                skipped=sum(skipped.values()),
                first_at=times[0] if times else now,
                last_at=times[-1] if times else now,
                sent_by=store.actor.user_id,
                created_at=now,
            )
        )
        audit.record(
            conn,
            store.actor,
            "marketing.mass_email",
            object="campaign",
            record_id=campaign["id"],
            details={"template": template_name, "queued": len(outgoing), "skipped": skipped},
        )
        callbacks = list(tx._after_commit or [])
    for callback in callbacks:
        callback()
    enqueue_delivery(instance, slug, due_now)
    return {
        "queued": len(queued_ids),
        "skipped": skipped,
        "first_at": times[0].isoformat() if outgoing else None,
        "last_at": times[-1].isoformat() if outgoing else None,
    }


def _render(instance, store, template, default_language, object_name, record, member, base_url, *, tracked=True):
    """The member's subject and HTML body in their language; ``tracked``
    adds the open pixel and routes links through the click redirect (a
    preview has neither, so looking at it counts nothing)."""
    language = record.get("preferred_language") or default_language
    subject, body = template_text(template, language)
    slug = store.binding.slug
    unsubscribe = f"{base_url}/m/u/{tracking_token(instance, slug, member['id'], 'unsubscribe')}" if tracked else "#"
    context = record_context(store, object_name, record, **{UNSUBSCRIBE_FIELD: unsubscribe})
    html = render(body, context, html=True)
    return {
        "subject": render(subject, context),
        "html": _with_tracking(instance, slug, member["id"], html, base_url) if tracked else html,
    }


# -- tracking and unsubscribe (public, token-authorised) ---------------------------------


def read_token(instance, token: str, action: str) -> dict:
    """The payload of a tracking token for ``action``; 404 for anything
    forged, altered or meant for another action (nothing is told apart)."""
    try:
        payload = _signer(instance).loads(token)
    except BadSignature:
        raise NotFound("no such link") from None
    if not isinstance(payload, dict) or payload.get("a") != action or not isinstance(payload.get("m"), int):
        raise NotFound("no such link")
    return payload


def _tracking_store(instance, slug: str):
    binding = instance.db.bind(slug)
    return record_store(instance, binding, SystemGuard(("read", "update"), purpose="e-mail tracking"), audit.SYSTEM)


def _bump(store, member_id: int, change) -> dict | None:
    """Apply ``change(member) -> values`` to the member, retrying once when
    another hit changed it in between; None when the member is gone."""
    for _ in range(2):
        try:
            member = store.get(MEMBER, member_id)
        except NotFound:
            return None
        try:
            return store.update(MEMBER, member_id, change(member), expected_version=member["version"], read_back=False)
        except Conflict:
            continue
    return None


def track_open(instance, token: str) -> None:
    payload = read_token(instance, token, "open")
    store = _tracking_store(instance, payload["t"])

    def opened(member: dict) -> dict:
        values = {"opens": (member.get("opens") or 0) + 1}
        if member.get("status") in ("planned", "sent"):
            values["status"] = "opened"
        return values

    _bump(store, payload["m"], opened)


def track_click(instance, token: str) -> str:
    """Count the click and answer the URL it was signed for (always one
    that was in the sent e-mail: there is no other way to get a token)."""
    payload = read_token(instance, token, "click")
    url = payload.get("u")
    if not isinstance(url, str) or not re.match(r"(?i)^https?://", url):
        raise NotFound("no such link")
    store = _tracking_store(instance, payload["t"])

    def clicked(member: dict) -> dict:
        values = {"clicks": (member.get("clicks") or 0) + 1, "responded": True}
        if member.get("status") in ("planned", "sent", "opened"):
            values["status"] = "clicked"
        return values

    _bump(store, payload["m"], clicked)
    return url


def unsubscribe_target(instance, token: str) -> dict:
    """Whose address an unsubscribe link is for: ``{"email"}`` (shown on
    the confirmation page, nothing else)."""
    payload = read_token(instance, token, "unsubscribe")
    store = _tracking_store(instance, payload["t"])
    try:
        member = store.get(MEMBER, payload["m"], fields=["email"])
    except NotFound:
        raise NotFound("no such link") from None
    return {"email": member.get("email")}


def unsubscribe(instance, token: str) -> dict:
    """Opt the member's lead or contact out of marketing e-mail and mark the
    member unsubscribed (idempotent); ``{"email"}``."""
    payload = read_token(instance, token, "unsubscribe")
    store = _tracking_store(instance, payload["t"])
    try:
        member = store.get(MEMBER, payload["m"])
    except NotFound:
        raise NotFound("no such link") from None
    with store.binding.begin() as conn:
        tx = store.nested(conn, depth=0)
        for object_name in _recipient_objects(tx):
            link = member.get(object_name)
            if isinstance(link, dict) and "email_opt_out" in tx.object(object_name).fields:
                tx.update(object_name, link["id"], {"email_opt_out": True}, read_back=False)
        tx.update(MEMBER, member["id"], {"status": "unsubscribed"}, read_back=False)
        callbacks = list(tx._after_commit or [])
    for callback in callbacks:
        callback()
    return {"email": member.get("email")}


# -- web-to-lead forms (public) ------------------------------------------------------------


def web_form(instance, slug: str, name: str) -> tuple[Any, dict]:
    """(binding, document) of an active form; 404 for an unknown tenant,
    form or an inactive one alike."""
    binding = instance.db.bind(slug)
    definition = model_for(instance, binding).definitions.get("web_form", name)
    if definition is None or definition.document.get("active") is False:
        raise NotFound("no such form")
    return binding, definition.document


def form_store(instance, binding, form_name: str):
    """The store a form post writes with: as the system, create and the
    reads the save pipeline makes (duplicate rules, roll-ups); nothing read
    goes back to the poster."""
    guard = SystemGuard(("create", "read"), purpose=f"the web form {form_name}")
    return record_store(instance, binding, guard, audit.SYSTEM)


def _client_key(instance, client: str) -> str:
    """The address as a keyed hash: enough to count posts, not to keep IPs."""
    secret = ensure_secret_key(instance.config).encode()
    return hmac.new(secret, (client or "").encode(), hashlib.sha256).hexdigest()


def admit_form_post(instance, binding, form_name: str, client: str, *, honeypot_filled: bool) -> None:
    """Log the post and refuse it when it is spam: the honeypot field was
    filled (400), or this address posted ``WEB_FORM_POSTS_PER_HOUR`` times to
    the form within the hour (429). Posts older than a day are forgotten."""
    limit = max(int(instance.config.get("WEB_FORM_POSTS_PER_HOUR") or 10), 1)
    key = _client_key(instance, client)
    now = utcnow()
    posts = marketing_form_posts.c
    with binding.begin() as conn:
        conn.execute(marketing_form_posts.delete().where(posts.at < now - timedelta(days=1)))
        recent = conn.execute(
            sa.select(sa.func.count()).where(
                posts.form == form_name, posts.client == key, posts.at > now - FORM_POST_WINDOW
            )
        ).scalar_one()
        accepted = not honeypot_filled and recent < limit
        conn.execute(marketing_form_posts.insert().values(form=form_name, client=key, at=now, accepted=accepted))
    if recent >= limit:
        raise TooManyRequests("too many posts from this address; try again later", retry_after=3600)
    if honeypot_filled:
        raise BadRequest("the post was refused")


def submit_form(store, form: dict, values: Mapping[str, Any]) -> dict:
    """Create the form's record from the posted ``values`` (already parsed
    per field) and the form's fixed values, through the save pipeline
    (assignment rules included). Required questions left blank are a 422
    naming them; only the form's own fields are taken from the post."""
    asked = {item["field"]: item for item in form["fields"]}
    missing = [name for name, item in asked.items() if item.get("required") and values.get(name) in (None, "", [])]
    if missing:
        raise ValidationFailed(
            "fill in the required fields", details={"fields": {name: ["required"] for name in missing}}
        )
    data = {name: values[name] for name in asked if values.get(name) not in (None, "", [])}
    data.update(form.get("values") or {})
    return store.create(form["object"], data, read_back=False)
