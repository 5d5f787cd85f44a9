"""The password policy: a minimum length and a list of common passwords
refused, both chosen per tenant (:mod:`metacrm.platform.settings`).

A login is shared by every tenant it belongs to, so a password must satisfy
the strictest policy among them. The list of common passwords ships beside
this module (``common_passwords.txt``: the 10,000 most common, lowercased;
provenance and licence in ``common_passwords.LICENSE.txt``) and is compared
case-insensitively, so ``Password1`` is as common as ``password1``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from metacrm.platform.errors import ValidationFailed

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    return frozenset(COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines())


def check_password(password: Any, policies: Iterable[Mapping[str, Any]], *, field: str = "password") -> None:
    """ValidationFailed naming ``field`` unless ``password`` satisfies every
    policy (tenant settings with ``password_min_length`` and
    ``password_refuse_common``)."""
    policies = list(policies)
    min_length = max(policy["password_min_length"] for policy in policies)
    problems = []
    if not isinstance(password, str) or len(password) < min_length:
        problems.append(f"at least {min_length} characters")
    elif any(policy["password_refuse_common"] for policy in policies) and password.lower() in common_passwords():
        problems.append("too common: it is on the list of the most used passwords")
    if problems:
        raise ValidationFailed(
            f"the {field.replace('_', ' ')} must have {problems[0]}"
            if problems[0].startswith("at least")
            else f"the {field.replace('_', ' ')} is {problems[0]}",
            details={"fields": {field: problems}},
        )
