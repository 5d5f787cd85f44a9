"""Encryption of sensitive field values at rest: AES-256-GCM with a key ring.

The key ring comes from configuration (``ENCRYPTION_KEYS``: ``id:key``
entries, the key 32 bytes in URL-safe base64; docs/security.md). The LAST
entry is the newest: it encrypts; every entry decrypts, so a rotation
(``metacrm keys rotate``) can re-encrypt stored values while old ones still
read. Without configured keys, an embedded instance generates one key on
first use and keeps it (mode 0600) in the data folder, like the secret key.

A stored value reads ``enc1:<key id>:<base64(nonce | ciphertext+tag)>``;
the associated data binds it to its field (``object.field``), so a
ciphertext copied into another field does not decrypt. Equality search goes
through a keyed blind index: HMAC-SHA256 of the normalised value under a
key derived (HKDF) from each ring key, one per key, so records written
under an older key are still found until the rotation reaches them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from metacrm.platform.errors import ConfigError, MetacrmError

PREFIX = "enc1"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_FILE_NAME = "encryption_keys"
BLIND_INDEX_LENGTH = 64  # hex characters of an HMAC-SHA256


class DecryptionFailed(MetacrmError):
    """A stored value does not decrypt: its key left the ring before the
    rotation reached it, or the value was tampered with. An operator's
    problem (500), never a client's; the message names no value."""


def generate_key() -> str:
    """A new random 256-bit key in the configuration's notation."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _decode_key(key_id: str, text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ConfigError(f"encryption key {key_id!r} is not URL-safe base64") from None
    if len(raw) != 32:
        raise ConfigError(f"encryption key {key_id!r} must be 32 bytes (256 bits), not {len(raw)}")
    return raw


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, oldest first; the last one encrypts."""

    keys: Mapping[str, bytes]
    _index_keys: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if not self.keys:
            raise ConfigError("the encryption key ring is empty")
        for key_id, key in self.keys.items():
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"metacrm blind index").derive(key)
            self._index_keys[key_id] = derived

    @classmethod
    def parse(cls, entries: Iterable[str]) -> KeyRing:
        """From ``id:key`` entries (oldest first)."""
        keys: dict[str, bytes] = {}
        for entry in entries:
            key_id, sep, text = str(entry).partition(":")
            key_id = key_id.strip()
            if not sep or not KEY_ID_RE.match(key_id):
                raise ConfigError("each ENCRYPTION_KEYS entry is id:key with an id of letters, digits, - or _")
            if key_id in keys:
                raise ConfigError(f"encryption key id {key_id!r} appears twice")
            keys[key_id] = _decode_key(key_id, text)
        return cls(keys)

    @property
    def current_id(self) -> str:
        return list(self.keys)[-1]

    # -- values ---------------------------------------------------------------------

    def encrypt(self, plaintext: str, context: str) -> str:
        """``plaintext`` sealed under the newest key; ``context`` (``object.field``) is authenticated."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}:{self.current_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, context: str) -> str:
        key_id = key_id_of(stored)
        if key_id is None:
            raise DecryptionFailed(f"a stored value of {context} is not in the encrypted format")
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionFailed(
                f"a stored value of {context} is encrypted with key {key_id!r}, which is not in ENCRYPTION_KEYS; "
                "put the key back and run `metacrm keys rotate`"
            )
        try:
            raw = base64.urlsafe_b64decode(stored.split(":", 2)[2])
            return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionFailed(f"a stored value of {context} does not decrypt (tampered with?)") from None

    def needs_rotation(self, stored: str | None) -> bool:
        return stored is not None and key_id_of(stored) != self.current_id

    # -- blind index -------------------------------------------------------------------

    def blind_index(self, text: str, context: str, key_id: str | None = None) -> str:
        """The index of a normalised value under one key (the newest by default)."""
        key = self._index_keys[key_id or self.current_id]
        return hmac.new(key, f"{context}\x00{text}".encode(), hashlib.sha256).hexdigest()

    def blind_indexes(self, text: str, context: str) -> list[str]:
        """The value's index under every key: what an equality search looks for."""
        return [self.blind_index(text, context, key_id) for key_id in self.keys]


def key_id_of(stored: Any) -> str | None:
    if not isinstance(stored, str):
        return None
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return parts[1]


def keyring_from_config(config: Mapping[str, Any]) -> KeyRing:
    """The configured ring; without one, the instance's own key kept in the
    data folder (generated once: fine for one host, not for several — they
    must share ``ENCRYPTION_KEYS``)."""
    entries = config.get("ENCRYPTION_KEYS") or []
    if isinstance(entries, str):
        entries = [item for item in entries.split(",") if item.strip()]
    if entries:
        return KeyRing.parse(entries)
    return KeyRing.parse(_kept_keys(Path(config["DATA_DIR"])))


def _kept_keys(data_dir: Path) -> list[str]:
    key_file = data_dir / KEY_FILE_NAME
    if not key_file.is_file():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = key_file.with_name(f"{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"k1:{generate_key()}\n")
        try:
            os.link(tmp, key_file)  # atomic: workers starting together share one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return [line.strip() for line in key_file.read_text(encoding="utf-8").splitlines() if line.strip()]
