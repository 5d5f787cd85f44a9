"""Configuration precedence: defaults → instance file → environment → caller."""

import stat

import pytest

from metacrm.platform.config import DEFAULTS, ensure_secret_key, load_config
from metacrm.platform.errors import ConfigError


def test_defaults_apply_when_nothing_is_set(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path)}, environ={})
    assert config["LOGIN_MAX_FAILURES"] == DEFAULTS["LOGIN_MAX_FAILURES"]
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["DATABASE_URL"] == ""


def test_instance_file_beats_defaults_and_environment_beats_file(tmp_path):
    (tmp_path / "metacrm.toml").write_text('login_max_failures = 7\nredis_url = "redis://file"\n')
    environ = {"METACRM_DATA_DIR": str(tmp_path), "METACRM_REDIS_URL": "redis://env"}
    config = load_config(None, environ=environ)
    assert config["LOGIN_MAX_FAILURES"] == 7
    assert config["REDIS_URL"] == "redis://env"


def test_caller_mapping_beats_environment(tmp_path):
    environ = {"METACRM_DATA_DIR": str(tmp_path), "METACRM_LOGIN_MAX_FAILURES": "9"}
    config = load_config({"LOGIN_MAX_FAILURES": 3}, environ=environ)
    assert config["LOGIN_MAX_FAILURES"] == 3


def test_environment_values_are_coerced_to_the_default_type(tmp_path):
    environ = {"METACRM_SESSION_COOKIE_SECURE": "false", "METACRM_MAX_CONTENT_LENGTH": "1024"}
    config = load_config({"DATA_DIR": str(tmp_path)}, environ=environ)
    assert config["SESSION_COOKIE_SECURE"] is False
    assert config["MAX_CONTENT_LENGTH"] == 1024


@pytest.mark.parametrize("key,value", [("SESSION_COOKIE_SECURE", "maybe"), ("LOGIN_MAX_FAILURES", "many")])
def test_malformed_environment_value_names_the_variable(tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"METACRM_{key}"):
        load_config({"DATA_DIR": str(tmp_path)}, environ={f"METACRM_{key}": value})


def test_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({"DATA_DIR": str(tmp_path)}, environ={"METACRM_CONFIG": str(tmp_path / "nope.toml")})


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path)}, environ={})
    first = ensure_secret_key(config)
    second = ensure_secret_key(config)
    assert first == second and len(first) >= 40
    mode = (tmp_path / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_configured_secret_key_wins_and_writes_nothing(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path), "SECRET_KEY": "from-env"}, environ={})
    assert ensure_secret_key(config) == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_non_postgresql_database_url_is_refused(tmp_path):
    from metacrm.platform.database import Database

    config = load_config({"DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql+pymysql://x@localhost/db"}, environ={})
    with pytest.raises((ConfigError, Exception)) as info:
        Database(config)
    assert "PostgreSQL" in str(info.value) or "pymysql" in str(info.value)
