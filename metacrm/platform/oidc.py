"""Sign-in through a tenant's OpenID Connect identity provider (the
authorization code flow, with a confidential client).

The tenant's settings name the provider (``oidc_issuer``, ``oidc_client_id``,
``oidc_client_secret``). :func:`authorization_url` reads the provider's
discovery document and builds the URL the browser is sent to, with a fresh
``state`` (against forged callbacks) and ``nonce`` (against replayed ID
tokens). :func:`verified_email` exchanges the code for tokens, checks the ID
token's signature against the provider's published keys (joserfc) and its
claims — issuer, audience, expiry, nonce, authorised party, access-token hash
(authlib's ``CodeIDToken``) — and answers the e-mail address the provider
vouches for (``email_verified`` must be true). Who that is, and whether they
are a member, is :func:`metacrm.platform.identity.authenticate_external`'s
business.

Every request to the provider goes through :mod:`metacrm.platform.outbound`:
a provider inside the operator's network must be allow-listed.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from metacrm.platform.errors import Unauthenticated
from metacrm.platform.outbound import OutboundPolicy, OutboundRefused, open_url

TIMEOUT = 10
SCOPE = "openid email"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class ProviderRefused(Unauthenticated):
    """The provider could not be reached, or its answer did not check out."""

    code = "sso_failed"


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Provider | None:
        if not settings.get("oidc_issuer") or not settings.get("oidc_client_id"):
            return None
        return cls(settings["oidc_issuer"].rstrip("/"), settings["oidc_client_id"], settings["oidc_client_secret"])


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str


def authorization_url(provider: Provider, redirect_uri: str, *, config: Mapping[str, Any]) -> AuthorizationRequest:
    """Where to send the browser; keep ``state`` and ``nonce`` for the callback."""
    discovery = _discovery(provider, config)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url = prepare_grant_uri(
        discovery["authorization_endpoint"],
        provider.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=SCOPE,
        state=state,
        nonce=nonce,
    )
    return AuthorizationRequest(url, state, nonce)


def verified_email(provider: Provider, *, code: str, redirect_uri: str, nonce: str, config: Mapping[str, Any]) -> str:
    """Exchange the code and check the ID token; the verified e-mail address."""
    discovery = _discovery(provider, config)
    credentials = f"{urllib.parse.quote(provider.client_id)}:{urllib.parse.quote(provider.client_secret)}"
    tokens = _fetch_json(
        discovery["token_endpoint"],
        config,
        data=urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        ).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
        },
    )
    if not isinstance(tokens.get("id_token"), str):
        raise ProviderRefused("the identity provider sent no ID token")
    keys = _fetch_json(discovery["jwks_uri"], config)
    try:
        token = jwt.decode(tokens["id_token"], KeySet.import_key_set(keys), algorithms=ALGORITHMS)
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
            },
            params={"nonce": nonce, "client_id": provider.client_id, "access_token": tokens.get("access_token")},
        )
        claims.validate(leeway=60)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ProviderRefused(f"the identity provider's ID token was refused: {exc}") from None
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise ProviderRefused("the identity provider did not vouch for an e-mail address (email_verified)")
    return email


def _discovery(provider: Provider, config: Mapping[str, Any]) -> dict:
    document = _fetch_json(provider.issuer + "/.well-known/openid-configuration", config)
    if document.get("issuer", "").rstrip("/") != provider.issuer:
        raise ProviderRefused("the identity provider's discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise ProviderRefused(f"the identity provider's discovery document has no {key}")
    return document


def _fetch_json(url: str, config: Mapping[str, Any], *, data: bytes | None = None, headers=None) -> dict:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ProviderRefused(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})})
    try:
        with open_url(request, policy=OutboundPolicy.from_config(config), timeout=TIMEOUT) as response:
            document = json.loads(response.read(1_000_000))
    except OutboundRefused as exc:
        raise ProviderRefused(f"the identity provider is refused: {exc.message}") from None
    except urllib.error.HTTPError as exc:
        raise ProviderRefused(f"the identity provider answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ProviderRefused(f"the identity provider could not be reached: {getattr(exc, 'reason', exc)}") from None
    if not isinstance(document, dict):
        raise ProviderRefused("the identity provider's answer is not a JSON object")
    return document


def check_issuer(value: Any) -> str | None:
    """The tenant setting ``oidc_issuer``: empty, or an http(s) URL."""
    if value == "":
        return None
    if not isinstance(value, str) or len(value) > 500:
        return "an http(s) URL"
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return "an http(s) URL"
    return None
