"""pay44: reading an account's credentials gives the caller its own copy;
flat credentials (the usual strings) are copied without a deep copy, whose
walk cost ~30 Python calls on every provider call."""

import cProfile
import pstats

from integrations import crypto


def _calls(token: str, runs: int = 200) -> float:
    crypto.decrypt_json(token)  # decrypted once, then cached
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(runs):
        crypto.decrypt_json(token)
    profile.disable()
    return pstats.Stats(profile).total_calls / runs


def test_flat_credentials_cost_a_handful_of_calls():
    token = crypto.encrypt_json({"secret_key": "sk_test_1", "webhook_secret": "w"})
    assert _calls(token) <= 6


def test_a_caller_changing_flat_credentials_changes_only_its_copy():
    token = crypto.encrypt_json({"secret_key": "sk_test_1"})
    first = crypto.decrypt_json(token)
    first["secret_key"] = "changed"
    assert crypto.decrypt_json(token) == {"secret_key": "sk_test_1"}


def test_nested_credentials_are_still_copied_deep():
    token = crypto.encrypt_json({"oauth": {"token": "t"}, "scopes": ["a"]})
    first = crypto.decrypt_json(token)
    first["oauth"]["token"] = "changed"
    first["scopes"].append("b")
    assert crypto.decrypt_json(token) == {"oauth": {"token": "t"}, "scopes": ["a"]}
