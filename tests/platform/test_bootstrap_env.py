import stat

from cryptography.fernet import Fernet

from config import bootstrap_env


def test_writes_fresh_dev_secrets_once(tmp_path, monkeypatch, capsys):
    target = tmp_path / ".env"
    monkeypatch.setattr(bootstrap_env, "ENV_FILE", target)

    assert bootstrap_env.main([]) == 0
    assert "Wrote .env" in capsys.readouterr().out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    parsed: dict[str, str] = {}
    for line in target.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            parsed[name] = value
    assert parsed["DEBUG"] == "true"
    assert len(parsed["SECRET_KEY"]) >= 50
    Fernet(parsed["CREDENTIALS_ENCRYPTION_KEYS"].encode())  # a valid key

    first = target.read_text()
    assert bootstrap_env.main(["--quiet"]) == 0
    assert target.read_text() == first  # an existing .env is never replaced
    assert capsys.readouterr().out == ""


def test_every_run_generates_different_secrets():
    assert bootstrap_env.render() != bootstrap_env.render()
