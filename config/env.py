"""The environment every settings module reads: `.env` next to manage.py (or
``ENV_FILE``; "" reads none) below what the process was given, and one way to
stop at start on a bad value."""

import logging
import math
import sys
import warnings
import zoneinfo
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

# The database engines the settings know how to tune (config/settings.py).
_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")
_DATABASE_URL_FORM = "postgres://user:password@host:5432/name or sqlite:///path"
# The words a boolean setting may be written with, in any case: django-environ
# reads every other value as False, so "DEBUG=ture" turned debug off unseen.
BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True}
BOOLEAN_WORDS |= {"false": False, "0": False, "no": False, "off": False}


# Numbers read from the environment (not defaults): name -> value.
NUMBERS_GIVEN: dict[str, float] = {}
# django-q2 keeps no successful task for a negative save_limit (0: all).
NEGATIVE_ALLOWED = frozenset({"Q_SAVE_LIMIT"})


def stop(message: str) -> None:
    """One clear line instead of a traceback: this is an operator mistake."""
    sys.stderr.write(f"switchyard: configuration error: {message}\n")
    raise SystemExit(2)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class SwitchyardEnv(environ.Env):
    """django-environ, except that a value it cannot read stops the start with
    one line naming the variable (not a traceback at start, or a failure at
    the first request), and comma lists forgive spaces ("a, b" is [a, b])."""

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        try:
            value = super().get_value(
                var, cast=cast, default=default, parse_default=parse_default
            )
        except (ValueError, TypeError):
            kind = getattr(cast, "__name__", "valid")
            # Only numbers and booleans get here (secrets and URLs are read
            # as text), so the value may be shown.
            stop(f"{var} is not {_a(kind)}: {_shown(self.ENVIRON.get(var))}")
        if cast in (int, float) and var in self.ENVIRON:
            NUMBERS_GIVEN[var] = value
        return value

    def refuse_negative_numbers(self) -> None:
        """Stop on a number given negative: none is a count, size or time
        that may be. Called once every setting is read, after the rules of
        their own (MIGRATION_LOCK_TIMEOUT_MS, Q_TIMEOUT), which say more."""
        for var, value in NUMBERS_GIVEN.items():
            if value < 0 and var not in NEGATIVE_ALLOWED:
                stop(f"{var} must be 0 or more, not {value:g}")

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        # django-environ reads a float by dropping every character but digits,
        # "," "." and "-" ("50%" is 50.0, "10m" is 10.0, "2.5.1" is 25.1).
        if cast is float:
            return finite_float(value)
        if cast is bool:
            return strict_bool(value)
        return super().parse_value(value, cast)

    def list(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET
    ) -> list:
        items = [
            item.strip() if isinstance(item, str) else item
            for item in super().list(var, default=default)
        ]
        items = [item for item in items if item != ""]
        if cast is None:
            return items
        try:
            return [(finite_float if cast is float else cast)(item) for item in items]
        except (ValueError, TypeError):
            kind = {int: "whole numbers", float: "numbers"}.get(cast, "values")
            stop(f"{var} is not a comma-separated list of {kind}")

    def db_url(
        self,
        var: str = environ.Env.DEFAULT_DATABASE_ENV,
        default: Any = environ.Env.NOTSET,
        engine: str | None = None,
    ) -> dict:
        # The URL holds the password: never in the message (nor in
        # django-environ's warning, which prints the parsed URL).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                config = super().db_url(var, default=default, engine=engine)
            except (ValueError, KeyError, TypeError):
                config = {}
        if config.get("ENGINE") not in _ENGINES or not config.get("NAME"):
            stop(f"{var} is not a database URL ({_DATABASE_URL_FORM})")
        return config

    db = db_url

    # Django and logging would stop on these only with a traceback.
    def time_zone(self, var: str, default: str) -> str:
        name = self.str(var, default=default).strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            stop(
                f"{var} is not a time zone name such as UTC or Europe/Paris: "
                f"{_shown(name)}"
            )
        return name

    def log_level(self, var: str, default: str) -> str:
        word = self.str(var, default=default).strip().upper()
        if word not in logging.getLevelNamesMapping():
            stop(
                f"{var} is not a log level (DEBUG, INFO, WARNING, ERROR): "
                f"{_shown(word)}"
            )
        return word


def finite_float(value: Any) -> float:
    """The number a value spells, whole text or nothing: ValueError else."""
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def strict_bool(value: Any) -> bool:
    """The truth a value spells, one of BOOLEAN_WORDS: ValueError else."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in BOOLEAN_WORDS:
        raise ValueError("not a boolean word")
    return BOOLEAN_WORDS[word]


def _a(kind: str) -> str:
    names = {"int": "a whole number", "float": "a number"}
    names["bool"] = "a boolean (true/false, 1/0, yes/no, on/off)"
    return names.get(kind, f"a {kind}")


env = SwitchyardEnv()
# ENV_FILE points elsewhere, or "" to read no file (tests of a clean start do).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Worker processes per qcluster; the storefront webhooks' in-flight cap
# defaults to one below it (config/domains.py).
Q_WORKERS = env.int("Q_WORKERS", default=2)
# django-q2 takes 0 workers as one per CPU and a negative count as none.
if Q_WORKERS < 1:
    stop(f"Q_WORKERS must be 1 or more, not {Q_WORKERS}")
# A task running past `retry` is handed out again while it runs (django-q2
# only warns): `timeout` < `retry` keeps it from running twice.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=60)
Q_RETRY = env.int("Q_RETRY", default=90)
if Q_TIMEOUT < 1:
    stop(f"Q_TIMEOUT must be 1 second or more, not {Q_TIMEOUT}")
if Q_TIMEOUT >= Q_RETRY:
    stop(f"Q_TIMEOUT ({Q_TIMEOUT}) must be below Q_RETRY ({Q_RETRY})")
