"""API-key format, generation and hashing. Plaintext keys exist only here and in the one response that shows them.

Format: ``payi_<kind>_<lookup id>_<secret><checksum>``

- ``payi_app_`` / ``payi_org_``: a recognisable prefix, so secret scanners can find leaked keys;
- lookup id: 12 base62 characters, not secret, the row the key is looked up by;
- secret: 32 base62 characters (about 190 bits of randomness);
- checksum: 6 base62 characters of CRC32 over everything before it, so that a mistyped key is rejected
  without a database lookup.

Only ``HMAC-SHA256(server secret, key)`` is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from enum import StrEnum

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOOKUP_LEN = 12
SECRET_LEN = 32
CHECKSUM_LEN = 6
MAX_KEY_LENGTH = 128


class KeyKind(StrEnum):
    APPLICATION = "application"
    ORGANIZATION = "organization"


_PREFIX = {KeyKind.APPLICATION: "payi_app_", KeyKind.ORGANIZATION: "payi_org_"}
_KIND_BY_PREFIX = {v: k for k, v in _PREFIX.items()}
# After the prefix: the lookup id, one "_", the secret and the checksum, all base62 (one regex run per request).
_REST = re.compile(f"[0-9A-Za-z]{{{LOOKUP_LEN}}}_[0-9A-Za-z]{{{SECRET_LEN + CHECKSUM_LEN}}}")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: KeyKind
    lookup_id: str


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key. ``plaintext`` is shown to the user once and never stored."""

    kind: KeyKind
    lookup_id: str
    plaintext: str

    @property
    def prefix(self) -> str:
        """The non-secret start of the key, safe to display (``payi_app_<lookup id>``)."""
        return _PREFIX[self.kind] + self.lookup_id


def _random_base62(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    out = []
    for _ in range(CHECKSUM_LEN):
        value, rem = divmod(value, 62)
        out.append(ALPHABET[rem])
    return "".join(reversed(out))


def generate_key(kind: KeyKind) -> NewKey:
    lookup_id = _random_base62(LOOKUP_LEN)
    body = f"{_PREFIX[kind]}{lookup_id}_{_random_base62(SECRET_LEN)}"
    return NewKey(kind=kind, lookup_id=lookup_id, plaintext=body + _checksum(body))


def parse_key(raw: str) -> ParsedKey | None:
    """Check a presented key's shape and checksum; ``None`` when it cannot be a key of ours."""
    if len(raw) != 9 + LOOKUP_LEN + 1 + SECRET_LEN + CHECKSUM_LEN:
        return None
    kind = _KIND_BY_PREFIX.get(raw[:9])
    if kind is None or raw[9 + LOOKUP_LEN] != "_":
        return None
    if not _REST.fullmatch(raw, 9):
        return None
    body, check = raw[:-CHECKSUM_LEN], raw[-CHECKSUM_LEN:]
    if not hmac.compare_digest(_checksum(body), check):
        return None
    return ParsedKey(kind=kind, lookup_id=raw[9 : 9 + LOOKUP_LEN])


class KeyHasher:
    """HMAC-SHA256 with the server secret; the only form in which keys are stored."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def hash(self, plaintext: str) -> str:
        return hmac.new(self._secret, plaintext.encode(), hashlib.sha256).hexdigest()

    def verify(self, plaintext: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash(plaintext), stored_hash)

    def fingerprint(self) -> str:
        """A value that identifies the secret without revealing it (stored to catch a changed secret)."""
        return hmac.new(self._secret, b"payi-server secret fingerprint", hashlib.sha256).hexdigest()[:16]
