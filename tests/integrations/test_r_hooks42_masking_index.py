"""r-hooks42: the masker's index, updated for the secrets added and gone at
each registry copy (hooks42), is the index a build from scratch makes, over
random rounds of changes whose secrets share forms ("+" read as a space,
the base64url alphabet, "\\/" escapes, padding), and masks the same."""

import random

import pytest

from integrations import secret_masking
from integrations.secret_masking import CUT_SECRET_MIN, MASK, mask_secrets

ROUNDS = 200
# Few characters, so secrets share heads and forms (a "+" and a "-" key).
ALPHABET = "ab+-/_="


def _reference(known: tuple[str, ...]) -> dict[str, tuple[tuple[int, ...], set]]:
    """Each head's forms, built from every secret (the pre-hooks42 build):
    the lengths longest first and the set (ties' order does not matter)."""
    forms = set()
    for secret in known:
        for form in (secret, secret.replace("\\/", "/")):
            urlsafe = form.replace("+", "-").replace("/", "_")
            for alphabet in (form, form.replace("+", " "), urlsafe):
                for each in (alphabet, alphabet.rstrip("=")):
                    if len(each) >= CUT_SECRET_MIN:
                        forms.add(each)
    heads: dict[str, set] = {}
    for form in forms:
        heads.setdefault(form[:CUT_SECRET_MIN], set()).add(form)
    return {
        head: (tuple(sorted((len(f) for f in found), reverse=True)), found)
        for head, found in heads.items()
    }


def _as_reference(index) -> dict[str, tuple[tuple[int, ...], set]]:
    return {
        head: (tuple(len(f) for f in bucket), set(bucket))
        for head, bucket in index.heads.items()
    }


def _secret(rng: random.Random) -> str:
    body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(8, 14)))
    return "ab" + body.replace("/", rng.choice(["/", "\\/"])) + "=" * rng.randint(0, 2)


@pytest.mark.parametrize("seed", range(4))
def test_the_updated_index_is_the_index_built_from_scratch(seed) -> None:
    rng = random.Random(seed)
    pool = [_secret(rng) for _ in range(60)]
    # Another copy indexed first (the registry's, an earlier test's).
    mask_secrets("x", ("sk_live_an_earlier_copys_key",))
    known: tuple[str, ...] = ()
    for _ in range(ROUNDS // 4):
        kept = [s for s in known if rng.random() > 0.3]
        added = rng.sample(pool, rng.randint(0, 6))
        known = tuple(dict.fromkeys(kept + added))  # a new copy each round
        if not known:
            continue  # nothing to mask: the index is not looked at
        # The index updated from the copy indexed before (the log filter's
        # path), whichever copy another thread's record left there.
        index = secret_masking._index(known)
        assert _as_reference(index) == _reference(known)
        assert set(index.counts) == {
            f for _, fs in _reference(known).values() for f in fs
        }
        for secret in pool:
            text = f"k {secret} x"
            expected = f"k {MASK} x" if secret in known else None
            if expected is not None:
                assert mask_secrets(text, known) == expected
