"""The form of service-account API keys: ``rag_<prefix>_<secret>``, stored as a SHA-256."""

import hashlib

KEY_PREFIX_BYTES = 6


def api_key_hash(raw_key: str) -> str:
    # Keys carry 256 random bits: a plain SHA-256 cannot be brute-forced, and it keeps
    # the per-request check cheap (a password hasher would cost ~100 ms a request).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_split(raw_key: str) -> tuple[str, str] | None:
    """``rag_<prefix>_<secret>`` -> ``(prefix, secret)``, or ``None`` if it has another form."""
    parts = raw_key.split("_", 2)  # the secret may itself contain "_"
    if len(parts) != 3 or parts[0] != "rag" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
