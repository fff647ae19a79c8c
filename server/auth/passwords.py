"""Password hashing (argon2id, ``argon2-cffi``'s RFC 9106 defaults) and the password policy."""

from __future__ import annotations

import asyncio
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from server.app_errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2id; time, memory and parallelism as the library recommends
# Verified when the username is unknown, so that the answer takes as long as for a known one.
_DUMMY_HASH = _hasher.hash("cirrus-dummy-password")


def policy_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if username and password.casefold() == username.casefold():
        return "the password must not be the username"
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
    if any(all(ch in chars for ch in password) for chars in classes):
        return "the password must mix characters of more than one kind (letters, digits, symbols)"
    if len(set(password)) < 4:
        return "the password must not repeat the same few characters"
    return None


def check_policy(password: str, username: str = "") -> None:
    problem = policy_problem(password, username)
    if problem:
        raise InvalidInput(problem)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; with no stored hash a dummy one is checked (same duration)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """``hash_password`` off the event loop (argon2id takes tens of milliseconds on purpose)."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored_hash, password)
