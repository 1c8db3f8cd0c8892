"""PostgreSQL wiring: pool, migrations applied at start, JSON codecs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

# A connection as handed out by a pool or opened directly: what repositories take.
Conn = asyncpg.Connection | PoolConnectionProxy

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x43485447  # any fixed number; serialises concurrent migrators


async def json_codecs(conn: asyncpg.Connection) -> None:
    """jsonb in and out as Python values (every connection of a pool gets these)."""
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, encoder=lambda v: json.dumps(v, default=str), decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection's reset: nothing to undo on the server (asyncpg has already
    ended any open transaction and dropped its listeners on the client side)."""


async def create_pool(dsn: str, max_size: int = 10, search_path: str | None = None,
                      session_state: bool = True, plan_cache_mode: str | None = None
                      ) -> asyncpg.Pool:
    """``search_path`` puts a service's own schema before ``public`` (reporting's views).

    ``session_state=False`` is for code that leaves nothing in a connection's session: locks
    are transaction-level (``pg_advisory_xact_lock``), settings ``SET LOCAL``, and whoever
    LISTENs or takes a session lock undoes it before the release. A released connection then
    goes back to the pool without asyncpg's reset query, a round trip on every request.
    ``plan_cache_mode``: PostgreSQL's, for every session of the pool (None: the server's)."""
    settings = {**({"search_path": search_path} if search_path else {}),
                **({"plan_cache_mode": plan_cache_mode} if plan_cache_mode else {})} or None
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, init=json_codecs, command_timeout=60,
        server_settings=settings, reset=None if session_state else _keep_session,
    )
    assert pool is not None
    return pool


async def apply_migrations(pool: asyncpg.Pool, *folders: Path) -> list[str]:
    """Apply each folder's ``*.sql`` files in name order, once each; return what was applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"]
                    for r in await conn.fetch("SELECT name FROM public.schema_migrations")}
            for folder in folders:
                for path in sorted(folder.glob("*.sql")):
                    name = f"{folder.parent.name}/{path.name}"  # e.g. registration/001_x.sql
                    if name in done:
                        continue
                    async with conn.transaction():
                        # migrations are of the public schema, whatever the pool's search path
                        await conn.execute("SET LOCAL search_path TO public")
                        await conn.execute(path.read_text())
                        await conn.execute(
                            "INSERT INTO public.schema_migrations (name) VALUES ($1)", name
                        )
                    applied.append(name)
                    log.info("applied migration %s", name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def ensure_database(admin_dsn: str, name: str) -> bool:
    """Create database ``name`` if missing (idempotent); True when it was created."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def jsonable(value: Any) -> Any:
    """Round-trip through JSON so dates and UUIDs become strings, as stored in jsonb."""
    return json.loads(json.dumps(value, default=str))
