"""Write a development ``.env`` with freshly generated secrets if there is none.

Runs before Django is configured (the settings refuse to load without these
secrets), so it uses nothing but the standard library and cryptography.
"""

import argparse
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def render() -> str:
    return (
        "# Development settings written by `make run`. Not for production.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"CREDENTIALS_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        "ALLOWED_HOSTS=127.0.0.1,localhost\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if ENV_FILE.exists():
        if not args.quiet:
            sys.stdout.write(f"Using existing {ENV_FILE.name}\n")
        return 0
    ENV_FILE.write_text(render())
    ENV_FILE.chmod(0o600)
    if not args.quiet:
        sys.stdout.write(f"Wrote {ENV_FILE.name} with fresh development secrets\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
