"""Users and their tokens: who may use the web server, and as which service.

A token is ``dct.<selector>.<secret>``: the selector (64 random bits, hex) finds the user's row, the
secret (256 random bits) is checked against the SHA-256 stored in that row with a constant-time
comparison. The catalogue keeps only the hash: a token is shown once, when the user is created, and
cannot be read back. Revoking a user sets ``revoked_at``; the next request with its token is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from dronectl.archive.times import iso
from dronectl.errors import InputError

PREFIX = "dct"
SESSION_PREFIX = "dcs"
_SESSION = re.compile(r"dcs\.[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOKEN = re.compile(r"dct\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
_DUMMY_HASH = hashlib.sha256(b"no such user").hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    service: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {"name": self.name, "service": self.service, "admin": self.admin,
                "created_at": iso(self.created_at), "revoked_at": iso(self.revoked_at)}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"bad user name {name!r}: 1 to 64 letters, digits, '.', '_' or '-', starting with a "
                         "letter or digit")
    return name


def new_token() -> tuple[str, str, str]:
    """(token, selector, hash of the secret): the token goes to the user, the other two to the catalogue."""
    selector, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return f"{PREFIX}.{selector}.{secret}", selector, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(selector, secret) of a well-formed token, None for anything else."""
    m = _TOKEN.fullmatch(token) if isinstance(token, str) and len(token) < 100 else None
    return (m.group(1), m.group(2)) if m else None


def is_session_id(text: str) -> bool:
    return isinstance(text, str) and len(text) < 100 and _SESSION.fullmatch(text) is not None


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Constant-time check of a secret against a stored hash (a missing row is checked against a dummy)."""
    ok = hmac.compare_digest(hash_secret(secret), stored_hash or _DUMMY_HASH)
    return ok and stored_hash is not None
