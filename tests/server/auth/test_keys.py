from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payi_server.auth.keys import ALPHABET, SECRET_LEN, KeyHasher, KeyKind, generate_key, parse_key


@pytest.mark.parametrize("kind", list(KeyKind))
def test_generated_key_round_trips(kind: KeyKind) -> None:
    key = generate_key(kind)
    parsed = parse_key(key.plaintext)
    assert parsed is not None
    assert parsed.kind is kind
    assert parsed.lookup_id == key.lookup_id
    assert key.plaintext.startswith("payi_app_" if kind is KeyKind.APPLICATION else "payi_org_")
    assert key.prefix == key.plaintext[: len(key.prefix)]


def test_secret_has_at_least_128_bits() -> None:
    assert SECRET_LEN * math.log2(len(ALPHABET)) >= 128
    keys = {generate_key(KeyKind.APPLICATION).plaintext for _ in range(2000)}
    assert len(keys) == 2000


def test_every_single_character_typo_is_rejected_without_lookup() -> None:
    key = generate_key(KeyKind.APPLICATION).plaintext
    for i, ch in enumerate(key):
        for replacement in ("0", "z", "A", "_"):
            if replacement == ch:
                continue
            typo = key[:i] + replacement + key[i + 1 :]
            assert parse_key(typo) is None, (i, replacement)


@pytest.mark.parametrize(
    "raw",
    ["", "payi_app_", "sk-abcdef", "x" * 59, "payi_xxx_" + "a" * 50, "payi_app_" + "a" * 12 + "-" + "b" * 38],
)
def test_malformed_keys_are_rejected(raw: str) -> None:
    assert parse_key(raw) is None


@settings(max_examples=300)
@given(st.data())
def test_a_character_outside_base62_anywhere_is_rejected(data: st.DataObject) -> None:
    """Unicode digits and letters, which ``isalnum`` and ``\\d`` would take, and punctuation never pass the shape."""
    key = generate_key(KeyKind.APPLICATION).plaintext
    i = data.draw(st.integers(9, len(key) - 1))
    odd = data.draw(st.characters().filter(lambda c: c not in ALPHABET and c != key[i]))
    assert parse_key(key[:i] + odd + key[i + 1 :]) is None


def test_truncated_and_extended_keys_are_rejected() -> None:
    key = generate_key(KeyKind.ORGANIZATION).plaintext
    assert parse_key(key[:-1]) is None
    assert parse_key(key + "a") is None


def test_hash_is_keyed_and_verifies() -> None:
    key = generate_key(KeyKind.APPLICATION).plaintext
    a, b = KeyHasher(b"secret-one" * 4), KeyHasher(b"secret-two" * 4)
    assert a.hash(key) != b.hash(key)
    assert key not in a.hash(key)
    assert a.verify(key, a.hash(key))
    assert not b.verify(key, a.hash(key))
    assert a.fingerprint() != b.fingerprint()
