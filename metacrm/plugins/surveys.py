"""Satisfaction surveys on records: a signed link a customer follows
without signing in to rate the service (1–5) and leave a comment, once.

An object takes part when it has the fields of :data:`FIELDS` (crm_core's
``case`` does): ``survey_url`` holds the record's link — filled in by the
save step below on the record's first update, so an automation's e-mail can
send ``{{survey_url}}`` (crm_core's case-closed e-mail does, through the
outbox) — and the answer is stored in ``survey_rating``,
``survey_comment`` and ``survey_answered_at``.

The token is the tenant, object and record id signed with the instance's
secret key (itsdangerous); nothing in it can be changed without the key,
and it names no more than the record it answers. It works once: a record
with ``survey_answered_at`` set refuses another answer. The public page
(``ui/views/survey.py``) shows nothing of the record and is throttled per
client address like the sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform.config import ensure_secret_key
from metacrm.platform.errors import NotFound
from metacrm.platform.hooks import hookimpl

FIELDS = ("survey_url", "survey_rating", "survey_comment", "survey_answered_at")
SALT = "metacrm.survey"
PATH = "/survey/"
MAX_COMMENT = 2000


@dataclass(frozen=True)
class SurveyTarget:
    tenant: str
    object: str
    record_id: int


def takes_surveys(obj: CompiledObject) -> bool:
    return all(name in obj.fields for name in FIELDS)


def _serializer(config) -> URLSafeSerializer:
    return URLSafeSerializer(ensure_secret_key(config), salt=SALT)


def survey_token(config, target: SurveyTarget) -> str:
    return _serializer(config).dumps([target.tenant, target.object, target.record_id])


def survey_link(config, target: SurveyTarget) -> str:
    """The link to the survey page: absolute when ``PUBLIC_URL`` is set."""
    return f"{(config.get('PUBLIC_URL') or '').rstrip('/')}{PATH}{survey_token(config, target)}"


def read_token(config, token: str) -> SurveyTarget:
    """What a token answers; NotFound for anything not signed by this instance."""
    try:
        tenant, object_name, record_id = _serializer(config).loads(token)
        return SurveyTarget(str(tenant), str(object_name), int(record_id))
    except (BadSignature, ValueError, TypeError):
        raise NotFound("this survey link is not valid") from None


class SurveyLinks:
    """Before the write of an update: give a record of a survey object its
    link, once (the record id is known only after the insert, so the first
    update does it; a case is closed by an update)."""

    order = 250  # before the before-save automations (300), so their e-mails can quote it

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.action != "update" or not takes_surveys(ctx.obj) or ctx.instance is None:
            return
        for save in saves:
            if save.record_id is not None and not (save.before or {}).get("survey_url"):
                target = SurveyTarget(ctx.store.binding.slug, ctx.obj.api_name, save.record_id)
                save.values.setdefault("survey_url", survey_link(ctx.instance.config, target))


class SurveysPlugin:
    """The survey link save step, as a built-in plugin."""

    @hookimpl
    def register_save_steps(self):
        return [SurveyLinks()]


surveys_plugin = SurveysPlugin()
