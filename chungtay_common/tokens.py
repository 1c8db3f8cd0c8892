"""Development signing keys and tokens.

    python -m chungtay_common.tokens keygen           # once; idempotent
    python -m chungtay_common.tokens mint --sub lan --role registrar --unit <uuid>

The private key lives in ``.local/keys`` (git-ignored) and is for development only: in production
tokens come from the province's identity provider and services get only its public key.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chungtay_common.auth import Role
from chungtay_common.settings import LOCAL_STATE

KEY_DIR = LOCAL_STATE / "keys"


def keygen(key_dir: Path = KEY_DIR) -> tuple[Path, Path]:
    private, public = key_dir / "jwt_private.pem", key_dir / "jwt_public.pem"
    if private.exists() and public.exists():
        return private, public
    key_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def mint(
    private_key_pem: bytes,
    *,
    subject: str,
    roles: list[str],
    unit_id: uuid.UUID | None,
    issuer: str = "chungtay-dev",
    audience: str = "chungtay",
    ttl: timedelta = timedelta(hours=8),
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
    }
    if unit_id is not None:
        claims["unit_id"] = str(unit_id)
    return jwt.encode(claims, private_key_pem, algorithm="EdDSA")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chungtay_common.tokens")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("keygen", help="create the development key pair if missing")
    m = sub.add_parser("mint", help="print a development token")
    m.add_argument("--sub", required=True, help="who the token is for")
    m.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    m.add_argument("--unit", type=uuid.UUID, help="root of the caller's unit scope")
    m.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    private, _ = keygen()
    if args.command == "mint":
        token = mint(
            private.read_bytes(),
            subject=args.sub,
            roles=args.role,
            unit_id=args.unit,
            ttl=timedelta(hours=args.hours),
        )
        sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
