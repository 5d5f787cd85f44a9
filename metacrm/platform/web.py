"""The HTTP edge shared by every blueprint: request ids, who is calling,
which tenant is bound, CSRF, security headers and the one place where errors
become responses.

Views are protected by default: before any view runs, the request must carry
a valid session or bearer token, which binds exactly one tenant (``g.tenant``).
A view that must be reachable without signing in says so with :func:`public`.

A request shares its database connections (``Database.open_request``): the
token check, the revision check, the roles and the view's work use one
checkout, returned to the pool — rolled back — when the request ends,
however it ends. A view marked :func:`read_only` goes further on
PostgreSQL: a token this worker has checked before is assumed to stand for
what it stood for then, and the check rides with the view's first read.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid

import sqlalchemy as sa
from flask import (
    Flask,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import BadRequest as HTTPBadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from metacrm.platform import identity as identities
from metacrm.platform.database import TenantBinding, defer_request_check, ensure_request_check
from metacrm.platform.errors import BadRequest, Forbidden, MetacrmError, TooManyRequests, Unauthenticated
from metacrm.platform.identity import Identity

log = logging.getLogger("metacrm.web")
csrf = CSRFProtect()

PUBLIC_ATTR = "_metacrm_public"
CSRF_EXEMPT_ATTR = "_metacrm_csrf_exempt"
BEFORE_TWO_FACTOR_ATTR = "_metacrm_before_two_factor"
READ_ONLY_ATTR = "_metacrm_read_only"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9-]{8,36}$")
MAX_ID = 2**63 - 1  # ids are 64-bit signed integers in both databases


class IdConverter(IntegerConverter):
    """``<int:...>`` in every URL rule: a number beyond 64 bits is a 400
    naming the parameter, not an overflow deep in the database driver."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise HTTPBadRequest(f"{value} is not an id: ids are at most {MAX_ID}")
        return number


# The strict policy of the screens: no inline script or style anywhere, so
# templates carry classes only and htmx is told not to inject its indicator
# style. Bootstrap's form-select arrows are data: SVGs, hence img-src data:.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def public(view=None, *, csrf_exempt: bool = False):
    """Mark a view as reachable without signing in. ``csrf_exempt`` is for
    JSON endpoints that set no cookie (the token endpoint)."""

    def mark(fn):
        setattr(fn, PUBLIC_ATTR, True)
        setattr(fn, CSRF_EXEMPT_ATTR, csrf_exempt)
        return fn

    return mark(view) if view is not None else mark


def allowed_before_two_factor(view):
    """Mark a view a signed-in user may use while their tenant requires
    two-factor authentication they have not set up yet (enrolling, who am I,
    signing out). Every other view answers 403 ``two_factor_required``."""
    setattr(view, BEFORE_TWO_FACTOR_ATTR, True)
    return view


def read_only(view):
    """Mark a view that only reads (a GET of the API): on PostgreSQL a bearer
    token this worker has checked before is assumed to stand for the identity,
    roles and metadata revision it stood for then, and its check is sent with
    the view's first read of the tenant (``RecordStore.get``),
    or alone before any other statement — one round trip less (issue 16,
    item 2). Nothing leaves before the check has run: the view's answer, or
    its error, waits for it; a revoked token answers 401; a changed identity,
    role or revision answers the request again from the start with the fresh
    values (reads only, so answering twice is safe); so does a connection
    found dropped by the view's first statement (the retry of
    :func:`_before_request`)."""

    @functools.wraps(view)
    def answer(*args, **kwargs):
        before = dict(vars(g))
        try:
            try:
                return view(*args, **kwargs)
            finally:
                ensure_request_check()
        except identities.IdentityChanged as changed:
            _start_again(before)
            g.tenant_reads = changed.values
            _bind_identity(current_app.extensions["metacrm"], changed.identity, answer, is_public=False)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated or not g.get("identity_deferred"):
                raise
            log.warning("request %s: database connection dropped; retrying once", g.request_id)
            instance = current_app.extensions["metacrm"]
            instance.db.drop_request_connections()
            _start_again(before)
            identity, _by_token = _resolve_identity(instance, is_public=False, may_defer=False)
            _bind_identity(instance, identity, answer, is_public=False)
        return view(*args, **kwargs)

    setattr(answer, READ_ONLY_ATTR, True)
    return answer


def _start_again(before: dict) -> None:
    """Forget what the view put on ``g`` (its model, guard, store ...)."""
    state = vars(g)
    state.clear()
    state.update(before)
    g.identity_deferred = False
    defer_request_check(None)


def current_identity() -> Identity:
    identity = g.get("identity")
    if identity is None:
        raise Unauthenticated("sign in first")
    return identity


def current_tenant() -> TenantBinding:
    """The tenant bound to this request; there is no other way to reach one."""
    tenant = g.get("tenant")
    if tenant is None:
        raise Unauthenticated("sign in first")
    return tenant


def current_actor():
    return current_identity().as_actor(client_ip(), g.get("request_id"))


def client_ip() -> str:
    # Behind a proxy, configure werkzeug's ProxyFix (docs/operations.md), not this.
    return request.remote_addr or "unknown"


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def sign_in_session(identity: Identity) -> None:
    session.clear()
    session.permanent = True
    session.update(uid=identity.user_id, tenant=identity.tenant_slug, epoch=identity.session_epoch)


def sign_out_session() -> None:
    session.clear()


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _resolve_identity(instance, is_public: bool, may_defer: bool) -> tuple[Identity | None, bool]:
    """(identity, came_from_bearer_token). ``may_defer``: a :func:`read_only`
    view, whose token check may ride with its first read."""
    token = _bearer_token()
    if token is not None:
        deferred = identities.deferred_token_check(instance, token) if may_defer else None
        if deferred is not None:
            defer_request_check(deferred)
            g.identity_deferred = True
            g.tenant_reads = deferred.assumed.values
            return deferred.assumed.identity, True
        identity, g.tenant_reads = identities.identity_and_tenant_reads(instance, token)
        if identity is None and not is_public:
            raise Unauthenticated("the API token is invalid or revoked")
        return identity, True
    if "uid" in session:
        uid, slug = session["uid"], session.get("tenant", "")
        identity, reads = identities.member_identity_and_tenant_reads(instance, uid, slug)
        if identity is None or identity.session_epoch != session.get("epoch"):
            session.clear()
            return None, False
        g.tenant_reads = reads
        return identity, False
    return None, False


def _before_request():
    offered = request.headers.get("X-Request-Id", "")
    g.request_id = offered if REQUEST_ID_RE.match(offered) else str(uuid.uuid4())
    instance = current_app.extensions["metacrm"]
    g.request_connections = instance.db.open_request()
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    is_public = view is None or request.endpoint == "static" or getattr(view, PUBLIC_ATTR, False)
    # Only a request nothing here refuses: an answer given before the view
    # (a NUL in the query, two factors pending) must not outrun the check.
    may_defer = getattr(view, READ_ONLY_ATTR, False) and request.method == "GET" and _nul_parameter() is None
    try:
        identity, by_token = _resolve_identity(instance, is_public, may_defer)
    except sa.exc.DBAPIError as error:
        # The pool does not ping each checkout: the first statement of the
        # request finds a dropped connection (database restarted, idle
        # timeout) and the request retries once on a fresh one.
        if not error.connection_invalidated:
            raise
        log.warning("request %s: database connection dropped; retrying once", g.request_id)
        instance.db.drop_request_connections()
        identity, by_token = _resolve_identity(instance, is_public, may_defer)
    _bind_identity(instance, identity, view, is_public)
    _refuse_nul_in_query()
    unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
    if unsafe and not by_token and not getattr(view, CSRF_EXEMPT_ATTR, False):
        csrf.protect()


def _bind_identity(instance, identity: Identity | None, view, is_public: bool) -> None:
    g.identity = identity
    if identity is not None:
        # The tenant comes from the identity alone: no header, path or body
        # parameter can choose a different one.
        g.tenant = instance.db.binding_for(identity.tenant_slug, identity.tenant_id, identity.tenant_name)
    if identity is None and not is_public:
        raise Unauthenticated("sign in first")
    if identity is not None and identity.two_factor_pending and not getattr(view, BEFORE_TWO_FACTOR_ATTR, is_public):
        raise Forbidden(
            "your role requires two-factor authentication: set it up first (POST /api/v1/auth/2fa/enrol)",
            code="two_factor_required",
        )


def _teardown_request(_error=None) -> None:
    token = g.pop("request_connections", None)
    if token is not None:
        current_app.extensions["metacrm"].db.close_request(token)


def _nul_parameter() -> str | None:
    """The first query parameter holding a NUL character, printable, or None."""
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            return key.replace("\x00", "\\0")
    return None


def _refuse_nul_in_query() -> None:
    """PostgreSQL text cannot hold a NUL character; refuse it at the edge,
    naming the parameter, for both databases alike."""
    name = _nul_parameter()
    if name is not None:
        raise BadRequest(
            f"query parameter {name!r} contains a NUL character", details={"fields": {name: ["contains NUL"]}}
        )


def _after_request(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def _error_response(status: int, code: str, message: str, details=None, headers=None):
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "details": details}})
        response.status_code = status
    else:
        if status == 401:
            return redirect(url_for("ui.login", next=request.full_path))
        response = current_app.make_response(
            (
                render_template(
                    "error.html", status=status, message=message, details=details, request_id=g.get("request_id")
                ),
                status,
            )
        )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _handle_domain_error(error: MetacrmError):
    headers = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    if error.status >= 500:
        log.exception("request %s failed: %s", g.get("request_id"), error)
    return _error_response(error.status, error.code, error.message, error.details, headers)


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


def _handle_http_error(error: HTTPException):
    status = error.code or 500
    if isinstance(error, CSRFError):
        return _error_response(400, "csrf_failed", f"the form is stale or forged: {error.description}")
    message = error.description or error.name
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the request body is larger than the limit of {limit} bytes"
    return _error_response(status, HTTP_CODES.get(status, "http_error"), message)


def _handle_unexpected(error: Exception):
    request_id = g.get("request_id")
    log.exception("unexpected error in request %s", request_id)
    return _error_response(
        500, "internal_error", f"something went wrong on our side; quote request id {request_id} when reporting it"
    )


def init_web(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its rules
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # we call csrf.protect() ourselves, above
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a token lives as long as its session
    csrf.init_app(app)
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.teardown_request(_teardown_request)
    app.register_error_handler(MetacrmError, _handle_domain_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
