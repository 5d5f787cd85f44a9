"""The ``metacrm`` command: every verb against one instance, and the demo
served from a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from metacrm.cli import main
from tests.conftest import drop_namespaces, make_config


@pytest.fixture
def cli(tmp_path, backend, monkeypatch):
    """Run CLI verbs against a fresh instance (env vars name it, as an operator would)."""
    config = make_config(tmp_path, backend)
    for key in ("DATA_DIR", "DATABASE_URL", "PLATFORM_SCHEMA", "TENANT_SCHEMA_PREFIX", "SECRET_KEY"):
        if key in config:
            monkeypatch.setenv(f"METACRM_{key}", str(config[key]))
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    from metacrm.app import build_instance

    drop_namespaces(build_instance(config, load_entry_points=False))


def test_help_lists_every_verb_with_help_text():
    result = CliRunner().invoke(main, ["--help"])
    for verb in ("demo", "serve", "db", "tenant", "user", "token"):
        assert re.search(rf"^\s+{verb}\s+\S", result.output, re.MULTILINE), verb


def test_tenant_user_and_token_verbs_work_together(cli):
    cli("db", "upgrade")
    assert "created tenant acme" in cli("tenant", "create", "acme", "--name", "Acme Ltd").output
    assert "acme" in cli("tenant", "list").output
    cli(
        "user",
        "create",
        "--tenant",
        "acme",
        "--email",
        "rep@acme.test",
        "--password",
        "long enough pw",
        "--role",
        "sales_rep",
    )
    listed = cli("user", "list", "--tenant", "acme").output
    assert "rep@acme.test" in listed and "sales_rep" in listed
    token = cli("token", "create", "--tenant", "acme", "--email", "rep@acme.test").output.strip()
    assert token.startswith("mcrm_")
    cli("user", "set-password", "--email", "rep@acme.test", "--password", "another long pw")
    assert "done" in cli("db", "upgrade").output


def test_cli_errors_are_one_clear_line_and_exit_1(cli):
    result = cli("tenant", "create", "Bad-Slug", ok=False)
    assert result.exit_code == 1 and "slug" in result.output
    cli("tenant", "create", "acme")
    result = cli("tenant", "create", "acme", ok=False)
    assert result.exit_code == 1 and "already exists" in result.output
    result = cli("token", "create", "--tenant", "acme", "--email", "ghost@acme.test", ok=False)
    assert result.exit_code == 1 and "not a member" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_command_starts_and_answers_on_its_port(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("METACRM_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "metacrm", "demo", "--data-dir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, deadline = "", time.time() + 120
        while time.time() < deadline:
            line = process.stdout.readline()
            output += line
            if "with password" in line or process.poll() is not None:
                break
        match = re.search(r"as (\S+) with password (\S+)", output)
        assert match, output
        assert f"http://127.0.0.1:{port}/" in output
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            method="POST",
            data=json.dumps({"email": match[1], "password": match[2], "tenant": "demo"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.load(response)["token"].startswith("mcrm_")
        # A request line over gunicorn's limit answers the JSON error shape, not gunicorn's HTML page.
        too_long = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/data/account?q={'x' * 9000}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(too_long, timeout=10)
        assert refused.value.code == 414 and refused.value.headers["Content-Type"] == "application/json"
        assert json.load(refused.value)["error"]["code"] == "uri_too_long"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_sign_out_everywhere_and_set_password_revoke_the_users_tokens(cli, tmp_path):
    from metacrm.app import build_instance
    from metacrm.platform import identity as identities

    cli("tenant", "create", "acme")
    cli("user", "create", "--tenant", "acme", "--email", "rep@acme.test", "--password", "long enough pw")
    instance = build_instance(load_entry_points=False)  # named by the environment, like the CLI's
    try:
        first = cli("token", "create", "--tenant", "acme", "--email", "rep@acme.test").output.strip()
        output = cli("user", "sign-out-everywhere", "--email", "rep@acme.test").output
        assert "signed out everywhere; 1 API token(s) revoked" in output
        assert identities.identity_from_token(instance, first) is None
        second = cli("token", "create", "--tenant", "acme", "--email", "rep@acme.test").output.strip()
        cli("user", "set-password", "--email", "rep@acme.test", "--password", "another long pw")
        assert identities.identity_from_token(instance, second) is None
        result = cli("user", "sign-out-everywhere", "--email", "ghost@acme.test", ok=False)
        assert result.exit_code == 1 and "no user ghost@acme.test" in result.output
    finally:
        instance.dispose()
