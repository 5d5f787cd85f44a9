"""``metacrm serve``'s gunicorn settings and pool size, without starting a
server (bench/load.py measures them under load; docs/operations.md)."""

from __future__ import annotations

import socket
import sys

import pytest
from click.testing import CliRunner
from gunicorn.config import Config

from metacrm import cli as cli_module
from metacrm.platform import server
from metacrm.platform.database import DEFAULT_POOL_SIZE, POOL_OVERFLOW, Database


def test_serve_defaults_are_the_measured_ones():
    settings = server.gunicorn_settings(host="127.0.0.1", port=8000)
    assert settings["bind"] == "127.0.0.1:8000"
    assert (settings["workers"], settings["threads"], settings["worker_class"]) == (2, 8, "gthread")
    assert settings["keepalive"] == 5
    assert settings["timeout"] == 120
    assert settings["preload_app"] is False
    assert settings["accesslog"] == "-"
    assert settings["reuse_port"] is sys.platform.startswith("linux")
    # No control socket unless the instance names its own.
    assert settings["control_socket_disable"] is True
    assert "control_socket" not in settings


def test_a_control_socket_is_opened_only_at_the_instance_s_own_path(tmp_path):
    path = str(tmp_path / "one.ctl")
    settings = server.gunicorn_settings(host="0.0.0.0", port=8001, access_log=False, control_socket=path)
    assert settings["control_socket"] == path
    assert "control_socket_disable" not in settings
    assert "accesslog" not in settings


def test_every_setting_is_one_gunicorn_knows():
    cfg = Config()
    for name, value in server.gunicorn_settings(host="127.0.0.1", port=8000).items():
        cfg.set(name, value)
    assert (cfg.workers, cfg.threads, cfg.keepalive, cfg.timeout) == (2, 8, 5, 120)
    assert cfg.control_socket_disable is True


def test_a_port_another_server_holds_is_refused_before_gunicorn_starts():
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a reuse_port worker binds
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(OSError, match="is in use"):
            server.ensure_port_free("127.0.0.1", port)
    finally:
        holder.close()
    server.ensure_port_free("127.0.0.1", port)  # free again


def test_serve_sizes_the_pool_to_its_threads(monkeypatch, tmp_path):
    calls = {}

    def fake_run(factory, **kwargs):
        calls.update(kwargs)
        factory()

    monkeypatch.setattr(cli_module, "run_gunicorn", fake_run)
    monkeypatch.setattr(cli_module, "create_app", lambda config: calls.setdefault("config", config))
    monkeypatch.delenv("METACRM_DATABASE_POOL_SIZE", raising=False)
    args = ["serve", "--data-dir", str(tmp_path), "--port", "8123", "--threads", "12"]
    result = CliRunner().invoke(cli_module.main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert calls["threads"] == 12 and calls["workers"] == server.DEFAULT_WORKERS
    assert calls["control_socket"] is None and calls["access_log"] is True
    assert calls["config"]["DATABASE_POOL_SIZE"] == 12

    # An operator's own size wins.
    calls.clear()
    monkeypatch.setenv("METACRM_DATABASE_POOL_SIZE", "3")
    CliRunner().invoke(cli_module.main, args, catch_exceptions=False)
    assert "DATABASE_POOL_SIZE" not in calls["config"]


def test_the_engine_pool_takes_the_configured_size(tmp_path):
    base = {
        "DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/none",  # never connected here
        "DATA_DIR": str(tmp_path),
        "PLATFORM_SCHEMA": "metacrm",
        "TENANT_SCHEMA_PREFIX": "t_",
    }
    sized = Database({**base, "DATABASE_POOL_SIZE": 8}).engine.pool
    assert (sized.size(), sized._max_overflow) == (8, POOL_OVERFLOW)
    assert Database({**base, "DATABASE_POOL_SIZE": 0}).engine.pool.size() == DEFAULT_POOL_SIZE
