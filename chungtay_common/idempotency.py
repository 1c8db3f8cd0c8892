"""Idempotency keys: a write retried with the same ``Idempotency-Key`` has no second effect.

The first request's response is stored in the same transaction as its effect; a retry gets the
stored response back. The same key on a different request is refused (422). A request that
failed stored nothing, so retrying it runs it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chungtay_common.db import Conn
from chungtay_common.errors import InvalidInput

KEPT = timedelta(hours=24)  # how long a response is kept for retries (a setting overrides it)


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: Any


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


async def lookup(conn: Conn, actor: str, key: str, digest: str,
                 kept: timedelta = KEPT) -> Stored | None:
    """The stored response for this key, if the request was done within ``kept``. Serialises
    concurrent requests with the same key until the transaction ends. A key older than that
    is forgotten (the stored response holds personal data), and may be used again."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", f"{actor}\n{key}")
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2"
        " AND created_at < now() - $3::interval", actor, key, kept)
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys"
        " WHERE actor = $1 AND key = $2",
        actor, key,
    )
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise InvalidInput.on("Idempotency-Key", "was already used for a different request")
    return Stored(row["status_code"], row["response"])


async def remember(conn: Conn, actor: str, key: str, method: str, path: str, digest: str,
                   status_code: int, body: bytes) -> None:
    """Keep the response ``body`` (JSON, as sent) of the first request with ``key``."""
    await conn.execute(
        "INSERT INTO idempotency_keys (key, actor, method, path, request_hash, status_code,"
        " response) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)",
        key, actor, method, path, digest, status_code, body.decode(),
    )

