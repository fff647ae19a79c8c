"""The secrets of a share link: its public id, its access code and the exchanged bearer token.

The access code is short (a patient types it from paper), so it is stored as an argon2id hash
and guessing is stopped by the lockout (``server.shares.throttle``). Bearer tokens carry 256
random bits, so a SHA-256 digest is enough to store them and is cheap to look up per request.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "shr_"
# Letters that cannot be mistaken for digits or for each other when read from paper.
LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"

_hasher = PasswordHasher()


class CodeKind(StrEnum):
    DIGITS = "digits"  # 6 digits
    LETTERS = "letters"  # 8 letters of LETTERS


CODE_LENGTH = {CodeKind.DIGITS: 6, CodeKind.LETTERS: 8}


def new_public_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters, 128 bits


def new_code(kind: CodeKind) -> str:
    alphabet = "0123456789" if kind is CodeKind.DIGITS else LETTERS
    return "".join(secrets.choice(alphabet) for _ in range(CODE_LENGTH[kind]))


def normalise_code(text: str) -> str:
    """What the patient typed, without spaces or dashes, letters upper-cased."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def hash_code(code: str) -> str:
    return _hasher.hash(normalise_code(code))


def code_matches(code_hash: str, typed: str) -> bool:
    try:
        return _hasher.verify(code_hash, normalise_code(typed))
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
