"""Checking the token a client presents (bearer header, cookie or sign-in form)."""

from __future__ import annotations

import hmac


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison; a credential that is not UTF-8 (aiohttp keeps such bytes as
    surrogates) is simply wrong: a 401, never a 500."""
    if given is None:
        return False
    try:
        return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))
    except UnicodeEncodeError:
        return False
