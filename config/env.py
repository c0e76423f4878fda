"""The environment every settings module reads: `.env` next to manage.py (or
``ENV_FILE``; "" reads none) below what the process was given, and one way to
stop at start on a bad value."""

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE points elsewhere, or "" to read no file (tests of a clean start do).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)


def stop(message: str) -> None:
    """One clear line instead of a traceback: this is an operator mistake."""
    sys.stderr.write(f"switchyard: configuration error: {message}\n")
    raise SystemExit(2)
