"""Token secrets: 256 random bits, kept as an unsalted SHA-256 hash.

Why not bcrypt or argon2: those are slow on purpose, to make guessing a *low-entropy*
password expensive. A token of 256 random bits cannot be guessed at any speed, so slowness
buys nothing — and it would cost ~100 ms of CPU on every API call, and a salted hash cannot be
looked up directly, so each request would have to try every stored hash. An unsalted SHA-256
of a random secret is what GitHub and PyPI do for API tokens: a leaked database yields no
usable token, and a lookup is one index probe.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "fgt_"  # lets secret scanners and people recognise a firegrid token in a leak


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_id() -> str:
    return "tok-" + secrets.token_hex(8)
