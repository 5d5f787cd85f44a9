"""The account part of the OpenAPI document: API tokens, the signed-in
user, the audit log, health, and this document itself.

Depends on nothing but the shared schema pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .schemas import error_refs, json_content, ref

# The pattern of object and field names the audit log filters take.
API_NAME = "^[a-z][a-z0-9_]{0,62}$"


class AccountSections:
    """The auth, account, audit and health paths of
    :class:`~metacrm.api.openapi.document.DocumentBuilder`."""

    paths: dict[str, Any]
    _path: Callable[..., str]  # RouteSections: a view's path, from its URL rule
    _path_parameters: Callable[[str], list[dict]]  # RouteSections: a view's path parameters, from its URL rule

    def _auth_paths(self) -> None:
        tags = ["auth"]
        self.paths[self._path("api_auth.create_token_with_password")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.exchangePassword",
                "summary": "Exchange e-mail, password and tenant for an API token",
                "security": [],
                "requestBody": {"required": True, "content": json_content(ref("TokenRequest"))},
                "responses": {
                    "201": {"description": "A new token.", "content": json_content(ref("Token"))},
                    **error_refs("400", "401", "413", "422", "429"),
                },
            }
        }
        self.paths[self._path("api_auth.me")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.me",
                "summary": "The signed-in user and tenant",
                "responses": {
                    "200": {"description": "Who you are.", "content": json_content(ref("Me"))},
                    **error_refs("401"),
                },
            }
        }
        self.paths[self._path("api_auth.list_tokens")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.listTokens",
                "summary": "Your API tokens in this tenant (never their secret)",
                "responses": {
                    "200": {
                        "description": "Tokens.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": ref("TokenInfo")}},
                            }
                        ),
                    },
                    **error_refs("401"),
                },
            },
            "post": {
                "tags": tags,
                "operationId": "auth.createToken",
                "summary": "Create another API token for yourself",
                "requestBody": {
                    "required": True,
                    "content": json_content({"type": "object", "properties": {"name": {"type": "string"}}}),
                },
                "responses": {
                    "201": {"description": "A new token.", "content": json_content(ref("Token"))},
                    **error_refs("400", "401", "413", "422"),
                },
            },
        }
        self.paths[self._path("api_auth.revoke_token")] = {
            "parameters": self._path_parameters("api_auth.revoke_token"),
            "delete": {
                "tags": tags,
                "operationId": "auth.revokeToken",
                "summary": "Revoke one of your tokens",
                "responses": {"204": {"description": "Revoked."}, **error_refs("401", "404")},
            },
        }
        self._security_paths(tags)
        self.paths[self._path("api_auth.audit_log")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.auditLog",
                "summary": "The tenant's audit log, newest first (tenant admins)",
                "parameters": [
                    {
                        "name": "action",
                        "in": "query",
                        "schema": {"type": "string"},
                        "examples": {"record": {"value": "record.updated"}},
                    },
                    *[
                        {"name": name, "in": "query", "description": description, "schema": schema}
                        for name, description, schema in (
                            ("object", "Entries about this object.", {"type": "string", "pattern": API_NAME}),
                            ("record", "Entries about this record (with object).", {"type": "integer", "minimum": 0}),
                            ("user", "Entries of this user's actions (a user id).", {"type": "integer", "minimum": 0}),
                            (
                                "field",
                                "Entries naming this field: values written, changes, reads.",
                                {"type": "string", "pattern": API_NAME},
                            ),
                        )
                    ],
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Entries older than this id.",
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of entries.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data", "next_cursor"],
                                "properties": {
                                    "data": {"type": "array", "items": ref("AuditEntry")},
                                    "next_cursor": {"type": ["integer", "null"]},
                                },
                            }
                        ),
                    },
                    **error_refs("401", "403"),
                },
            }
        }
        self.paths[self._path("api_auth.health")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.health",
                "summary": "200 when the platform database answers (for load balancers)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Healthy.",
                        "content": json_content(
                            {"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]}
                        ),
                    }
                },
            }
        }
        self.paths[self._path("api_openapi.openapi_document")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.openapi",
                "summary": "This document, for the signed-in tenant at its current metadata revision",
                "responses": {
                    "200": {"description": "An OpenAPI 3.1 document.", "content": json_content({"type": "object"})},
                    **error_refs("401"),
                },
            }
        }

    def _security_paths(self, tags: list[str]) -> None:
        """Password change, sign out everywhere, the tenant's password policy."""
        strings = {"type": "string", "minLength": 1}
        settings = {
            "type": "object",
            "properties": {
                "password_min_length": {"type": "integer", "minimum": 8, "maximum": 128},
                "password_refuse_common": {"type": "boolean"},
                "two_factor_roles": {"type": "array", "items": {"type": "string"}},
                "oidc_issuer": {"type": "string"},
                "oidc_client_id": {"type": "string"},
                "oidc_client_secret_set": {"type": "boolean"},
            },
        }
        settings_change = {
            "type": "object",
            "properties": {
                **{k: v for k, v in settings["properties"].items() if k != "oidc_client_secret_set"},
                "oidc_client_secret": {"type": "string", "description": "Write-only."},
            },
        }
        self.paths[self._path("api_auth.change_password")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.changePassword",
                "summary": "Change your password; every session and token of yours ends",
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["current_password", "new_password"],
                            "properties": {"current_password": strings, "new_password": strings},
                        }
                    ),
                },
                "responses": {"204": {"description": "Changed."}, **error_refs("400", "401", "413", "422", "429")},
            }
        }
        self.paths[self._path("api_auth.sign_out_everywhere")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.signOutEverywhere",
                "summary": "End every session and revoke every API token of yours, in every tenant",
                "responses": {
                    "200": {
                        "description": "How many tokens were revoked.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["tokens_revoked"],
                                "properties": {"tokens_revoked": {"type": "integer"}},
                            }
                        ),
                    },
                    **error_refs("401"),
                },
            }
        }
        code_body = {
            "required": True,
            "content": json_content({"type": "object", "required": ["code"], "properties": {"code": strings}}),
        }
        self.paths[self._path("api_auth.two_factor_status")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.twoFactorStatus",
                "summary": "Whether two-factor authentication is on, and required of you in this tenant",
                "responses": {
                    "200": {
                        "description": "The state.",
                        "content": json_content(
                            {
                                "type": "object",
                                "properties": {
                                    "enabled": {"type": "boolean"},
                                    "pending_confirmation": {"type": "boolean"},
                                    "recovery_codes_left": {"type": "integer"},
                                    "required": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **error_refs("401"),
                },
            }
        }
        self.paths[self._path("api_auth.two_factor_enrol")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorEnrol",
                "summary": "A new TOTP secret for your authenticator app (in force once confirmed)",
                "responses": {
                    "201": {
                        "description": "The secret and its otpauth:// URI, shown once.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["secret", "otpauth_uri"],
                                "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
                            }
                        ),
                    },
                    **error_refs("401", "409"),
                },
            }
        }
        self.paths[self._path("api_auth.two_factor_confirm")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorConfirm",
                "summary": "Confirm enrolment with a first code; answers the recovery codes once",
                "requestBody": code_body,
                "responses": {
                    "200": {
                        "description": "Recovery codes.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["recovery_codes"],
                                "properties": {"recovery_codes": {"type": "array", "items": {"type": "string"}}},
                            }
                        ),
                    },
                    **error_refs("400", "401", "404", "413", "422"),
                },
            }
        }
        self.paths[self._path("api_auth.two_factor_disable")] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorDisable",
                "summary": "Turn two-factor authentication off with a code (unless your role requires it)",
                "requestBody": code_body,
                "responses": {"204": {"description": "Off."}, **error_refs("400", "401", "403", "413", "422")},
            }
        }
        self.paths[self._path("api_auth.security_settings")] = {
            "get": {
                "tags": tags,
                "operationId": "auth.securitySettings",
                "summary": "The tenant's password policy",
                "responses": {
                    "200": {"description": "Settings.", "content": json_content(settings)},
                    **error_refs("401"),
                },
            },
            "patch": {
                "tags": tags,
                "operationId": "auth.updateSecuritySettings",
                "summary": "Change the tenant's password policy (holders of manage_access)",
                "requestBody": {"required": True, "content": json_content(settings_change)},
                "responses": {
                    "200": {"description": "The settings now.", "content": json_content(settings)},
                    **error_refs("400", "401", "403", "413", "422"),
                },
            },
        }
