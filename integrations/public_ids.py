"""Public ids: the opaque, prefixed ids (``pay_…``, ``re_…``) every domain
shows outside the database, so a primary key never leaks and a support
ticket says at a glance what an id names."""

import secrets
from typing import Any

from django.db import models
from django.utils.deconstruct import deconstructible

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 24
MAX_LENGTH = 32
# Byte b maps to ALPHABET[b % 36] only below 252 (= 7 * 36), so every
# character is equally likely; the 4 bytes above are dropped, not folded in.
_UNBIASED_BYTES = len(ALPHABET) * (256 // len(ALPHABET))
_BYTE_TO_CHAR = "".join(
    ALPHABET[b % len(ALPHABET)] if b < _UNBIASED_BYTES else "?" for b in range(256)
).encode("ascii")
_BIASED_BYTES = bytes(range(_UNBIASED_BYTES, 256))
# 32 bytes leave 24 usable ones except about once in 10**9 draws (then draw again).
_DRAW = 32


def new_public_id(prefix: str) -> str:
    """``prefix`` + 24 random lowercase letters and digits (~124 bits)."""
    # A few calls per id: one OS draw and one table translate, no per-character loop.
    chars = b""
    while len(chars) < RANDOM_LENGTH:
        chars += secrets.token_bytes(_DRAW).translate(_BYTE_TO_CHAR, _BIASED_BYTES)
    return prefix + chars[:RANDOM_LENGTH].decode("ascii")


@deconstructible(path="integrations.public_ids.PublicIdDefault")
class PublicIdDefault:
    """A field default that makes ``new_public_id(prefix)``; migrations store
    it by its prefix, so no per-model function is needed."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_public_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicIdDefault) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


class PublicIdField(models.CharField):
    """A unique, non-editable public id: ``PublicIdField(prefix="shp_")``.

    A model whose migrations already name a default function keeps it:
    ``PublicIdField(default=new_payment_id)``. Migrations see a plain
    ``CharField``, so they never import this class.
    """

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        if bool(prefix) == ("default" in kwargs):
            raise TypeError("PublicIdField takes a prefix or a default (one of them)")
        if prefix:
            if len(prefix) + RANDOM_LENGTH > MAX_LENGTH:
                raise ValueError(f"public id prefix {prefix!r} is too long")
            kwargs["default"] = PublicIdDefault(prefix)
        kwargs.setdefault("max_length", MAX_LENGTH)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs
