"""Password hashing for console accounts: ``hashlib.scrypt`` from the standard library.

The stored form is ``scrypt$n$r$p$salt_hex$hash_hex`` so the cost can be raised later and
old hashes still verify. n=2**14, r=8 costs ~16 MiB and ~50 ms per check: cheap for a
login, expensive for someone who stole the database and guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
_DKLEN = 32
MIN_LENGTH = 10  # accounts guard what the gateway blocks; short passwords are refused


class WeakPassword(ValueError):
    """A password the console refuses to store."""


def hash_password(password: str) -> str:
    """The stored form of ``password``; raises ``WeakPassword`` when it is too short."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=_DKLEN)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; constant time in the comparison."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            maxmem=256 * 1024 * 1024, dklen=len(digest) // 2,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# A real hash of a random password: logins for unknown users check against it, so a
# response's timing does not tell which user names exist.
DUMMY_HASH = f"scrypt${N}${R}${P}${'00' * 16}${'00' * _DKLEN}"
