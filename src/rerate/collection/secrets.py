"""Connection secrets: sealed at rest, or referenced from the environment.

A secret typed into the API, console or CLI is stored as `enc:v1:<base64>`,
sealed with the installation's key; `env:NAME` stores only the name of an
environment variable, read when a collector runs. Neither form is ever
returned: callers see whether a secret is set and, for `env:`, its name.

Why not Fernet: `cryptography` is not a dependency, and this is the one place
that needs symmetric encryption. The construction is a standard one built
from the standard library's HMAC-SHA256 only:

- two subkeys are derived from the key (HMAC(key, "rerate-collection-enc"),
  HMAC(key, "rerate-collection-mac")), so encryption and authentication
  never share a key;
- encryption is a PRF in counter mode: block i of the keystream is
  HMAC-SHA256(enc_key, nonce || i), with a fresh random 16-byte nonce per
  secret, XORed with the plaintext;
- encrypt-then-MAC: the tag HMAC-SHA256(mac_key, "v1" || nonce || ciphertext)
  is checked in constant time before anything is decrypted, so a tampered or
  foreign value is refused, never decrypted into garbage.

The key: `RERATE_SECRET_KEY` (any string of at least 32 characters; hashed
to 32 bytes) or, when unset, `<data_dir>/secret.key`, 32 random bytes
created on first use with mode 0600. A database backup alone therefore holds
no usable secret; back the key up with the data directory (docs/collection.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from rerate.kit.errors import Invalid

PREFIX = "enc:v1:"
ENV_PREFIX = "env:"
_NONCE = 16
_TAG = 32
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
KEY_FILE = "secret.key"


class SecretError(Exception):
    """A stored secret cannot be used (wrong key, tampered, variable unset)."""


def load_key(data_dir: Path, configured: str | None = None) -> bytes:
    """The installation's 32-byte key (see the module doc)."""
    if configured:
        if len(configured) < 32:
            raise SecretError("RERATE_SECRET_KEY must be at least 32 characters")
        return hashlib.sha256(configured.encode()).digest()
    path = Path(data_dir) / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_key(data_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(fresh)
            fh.flush()
            os.fsync(fh.fileno())
        return fresh
    if len(key) != 32:
        raise SecretError(f"{path} does not hold a 32-byte key")
    return key


def _subkeys(key: bytes) -> tuple[bytes, bytes]:
    enc = hmac.new(key, b"rerate-collection-enc", hashlib.sha256).digest()
    mac = hmac.new(key, b"rerate-collection-mac", hashlib.sha256).digest()
    return enc, mac


def _keystream(enc_key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for i in range((length + 31) // 32):
        blocks.append(hmac.new(enc_key, nonce + i.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def seal(plaintext: str, key: bytes) -> str:
    enc_key, mac_key = _subkeys(key)
    nonce = secrets.token_bytes(_NONCE)
    data = plaintext.encode()
    ciphertext = bytes(
        a ^ b for a, b in zip(data, _keystream(enc_key, nonce, len(data)), strict=True)
    )
    tag = hmac.new(mac_key, b"v1" + nonce + ciphertext, hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext + tag).decode()


def unseal(token: str, key: bytes) -> str:
    if not token.startswith(PREFIX):
        raise SecretError("not a sealed secret")
    try:
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode())
    except ValueError:
        raise SecretError("the sealed secret is damaged") from None
    if len(raw) < _NONCE + _TAG:
        raise SecretError("the sealed secret is damaged")
    nonce, ciphertext, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    enc_key, mac_key = _subkeys(key)
    expected = hmac.new(mac_key, b"v1" + nonce + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected):
        raise SecretError(
            "the secret was sealed with another key (RERATE_SECRET_KEY or "
            "<data_dir>/secret.key changed) or is damaged: set it again"
        )
    stream = _keystream(enc_key, nonce, len(ciphertext))
    return bytes(a ^ b for a, b in zip(ciphertext, stream, strict=True)).decode()


def store_form(value: str, key: bytes) -> str:
    """What to store for a secret as typed: `env:NAME` is kept as a reference
    (the name checked), anything else is sealed."""
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if not _ENV_NAME.match(name):
            raise Invalid(
                "secret: env:NAME must name an environment variable (letters, digits, _)",
                field="secret",
            )
        return value
    if not value:
        raise Invalid("secret: empty (send null to keep the secret, or a value)", field="secret")
    return seal(value, key)


def reveal(stored: str, key: bytes) -> str:
    """The usable secret of a stored form, for a collector only."""
    if stored.startswith(ENV_PREFIX):
        name = stored[len(ENV_PREFIX) :]
        value = os.environ.get(name)
        if value is None:
            raise SecretError(f"environment variable {name} (the region's secret) is not set")
        return value
    return unseal(stored, key)


def describe(stored: str | None) -> str:
    """How a stored secret is shown: never its value."""
    if not stored:
        return "not set"
    if stored.startswith(ENV_PREFIX):
        return f"from environment variable {stored[len(ENV_PREFIX) :]}"
    return "set (encrypted)"
