"""The public satisfaction survey page (``/survey/<token>``): no sign-in, a
rating of 1–5 and a comment, once per record. It shows nothing of the
record (not even its name), reads and writes only the survey fields through
a record store restricted to that, and counts every failed post against the
client address like the sign-in does (:mod:`metacrm.plugins.surveys`)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict, NotFound, TooManyRequests
from metacrm.platform.web import client_ip, public
from metacrm.plugins import context
from metacrm.plugins.surveys import MAX_COMMENT, read_token, takes_surveys
from metacrm.ui.blueprint import blueprint

TEMPLATE = "survey/page.html"
RATINGS = (5, 4, 3, 2, 1)


def _open(token: str):
    """The survey's store and record (its id, version and whether it was
    answered); NotFound for a link that is not valid here."""
    instance = context.instance()
    target = read_token(instance.config, token)
    binding = instance.db.bind(target.tenant)
    guard = SystemGuard(("read", "update"), purpose="the satisfaction survey")
    store = record_store(instance, binding, guard, audit.Actor(email="survey", ip=client_ip()))
    obj = store.model.object(target.object)
    if obj is None or not takes_surveys(obj):
        raise NotFound("this survey link is not valid")
    record = store.get(obj.api_name, target.record_id, fields=["survey_answered_at"])
    return store, obj, record


def _page(status: int = 200, **values):
    return render_template(TEMPLATE, ratings=RATINGS, max_comment=MAX_COMMENT, **values), status


@blueprint.get("/survey/<token>")
@public
def survey(token: str):
    """The survey form, or why it cannot be answered."""
    try:
        _store, _obj, record = _open(token)
    except NotFound:
        return _page(404, state="invalid")
    return _page(state="answered" if record["survey_answered_at"] else "open", token=token)


@blueprint.post("/survey/<token>")
@public
def answer_survey(token: str):
    """Store the rating and comment; once."""
    instance, ip, key = context.instance(), client_ip(), f"survey:{token[:200]}"
    try:
        identities.check_public_attempts(instance, key, ip)
    except TooManyRequests as exc:
        return _page(429, state="throttled", retry_after=exc.retry_after)
    try:
        store, obj, record = _open(token)
    except NotFound:
        identities.count_public_attempt(instance, key, ip, succeeded=False)
        return _page(404, state="invalid")
    if record["survey_answered_at"]:
        identities.count_public_attempt(instance, key, ip, succeeded=False)
        return _page(409, state="answered")
    rating = request.form.get("rating", "")
    comment = request.form.get("comment", "").strip()
    errors = {}
    if rating not in {str(r) for r in RATINGS}:
        errors["rating"] = _("Choose a rating from 1 to 5.")
    if len(comment) > MAX_COMMENT:
        errors["comment"] = _("Write at most %(max)d characters.", max=MAX_COMMENT)
    if errors:
        identities.count_public_attempt(instance, key, ip, succeeded=False)
        return _page(422, state="open", token=token, errors=errors, rating=rating, comment=comment)
    values = {"survey_rating": int(rating), "survey_comment": comment or None, "survey_answered_at": utcnow()}
    try:
        # The version read above: of two posts at once, one stores its answer, the other is refused.
        store.update(obj.api_name, record["id"], values, expected_version=record["version"], read_back=False)
    except Conflict:
        identities.count_public_attempt(instance, key, ip, succeeded=False)
        return _page(409, state="answered")
    identities.count_public_attempt(instance, key, ip, succeeded=True)
    return _page(state="thanks")
