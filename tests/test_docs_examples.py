"""The curl examples of docs/api.md run, top to bottom, against a fresh tenant.

Each ```sh block holds one curl command; the status line after it
(`` `201 Created` ``) and the ```json block that follows (if any) are what the
reader is promised. Every command runs through ``bash -c`` against a real
HTTP server (werkzeug, in a thread) with ``BASE``, ``TOKEN`` and
``USER_TOKEN`` exported; the test adds ``-w`` to learn the status, so the docs
stay plain. Top-level keys of the documented JSON must equal the real ones;
nested objects may be shortened but never name a key the API doesn't send.
Values (ids aside, which are deterministic on a fresh tenant) may differ.

Also checks docs/metadata.md's field-type table against the registry.
SQLite only: the examples are about the HTTP contract, not the database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from metacrm.app import build_instance, create_app
from metacrm.metadata.fieldtypes import BUILTIN_TYPES
from metacrm.platform import identity as identities
from metacrm.platform import tenancy
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
METADATA_DOC = ROOT / "docs" / "metadata.md"

TENANT, TENANT_NAME = "acme", "Acme"
ADMIN_EMAIL = "admin@acme.example"
USER_EMAIL = "user@acme.example"
PASSWORD = "correct horse battery staple"

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
STATUS = re.compile(r"`(\d{3})(?: [^`]*)?`")


@dataclass
class Example:
    line: int
    command: str
    status: int | None
    response: Any = None
    has_json: bool = False


def parse_examples(text: str) -> list[Example]:
    """Each ```sh block with the status line and ```json block after it."""
    blocks = [(m.start(), m.end(), m[1], m[2]) for m in FENCE.finditer(text)]
    examples: list[Example] = []
    for i, (start, end, language, body) in enumerate(blocks):
        if language != "sh":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        between = text[end : following[0] if following else len(text)]
        status = STATUS.search(between)
        example = Example(text.count("\n", 0, start) + 1, body.strip(), int(status[1]) if status else None)
        if following and following[2] == "json":
            example.has_json = True
            example.response = json.loads(following[3])
        examples.append(example)
    return examples


def assert_same_shape(documented: Any, actual: Any, where: str = "$", *, top: bool = True) -> None:
    """Documented keys must be sent; at the top level, exactly those keys."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: documented an object, got {actual!r:.200}"
        if top:
            assert set(documented) == set(actual), f"{where}: keys {sorted(documented)} != {sorted(actual)}"
        else:
            extra = set(documented) - set(actual)
            assert not extra, f"{where}: documented keys the API does not send: {sorted(extra)}"
        for key, value in documented.items():
            assert_same_shape(value, actual[key], f"{where}.{key}", top=False)
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: documented a list, got {actual!r:.200}"
        assert len(actual) >= len(documented), f"{where}: documented {len(documented)} items, got {len(actual)}"
        for index, (item, real) in enumerate(zip(documented, actual, strict=False)):
            assert_same_shape(item, real, f"{where}[{index}]", top=False)


def with_status_output(command: str) -> str:
    """The command with curl told to print the status on a last line of its own."""
    assert command.count("curl ") == 1, "one curl per example"
    return command.replace("curl ", "curl -w '\\n%{http_code}' ", 1)


@pytest.fixture
def api_server(tmp_path):
    """A fresh instance served over HTTP, with tenant acme, its admin and a plain user."""
    instance = build_instance(make_config(tmp_path, "sqlite"), load_entry_points=False)
    instance.upgrade_platform()
    app = create_app(instance=instance)
    tenancy.create_tenant(instance, TENANT, TENANT_NAME)
    tokens = {}
    for email, admin in ((ADMIN_EMAIL, True), (USER_EMAIL, False)):
        user_id = identities.create_user(
            instance, tenant=TENANT, email=email, password=PASSWORD, is_admin=admin, role="admin" if admin else None
        )
        identity = identities.identity_for(instance, user_id, TENANT)
        tokens[email] = identities.create_token(instance, identity, "docs")[1]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "BASE": f"http://127.0.0.1:{server.server_port}",
            "TOKEN": tokens[ADMIN_EMAIL],
            "USER_TOKEN": tokens[USER_EMAIL],
        }
    finally:
        server.shutdown()
        thread.join(timeout=10)
        instance.dispose()


def run_example(example: Example, env: dict[str, str]) -> tuple[int, str]:
    """(HTTP status, body) of one example."""
    completed = subprocess.run(
        ["bash", "-c", with_status_output(example.command)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, (
        f"docs/api.md line {example.line}: exit {completed.returncode}: {completed.stderr}"
    )
    body, _, status = completed.stdout.rpartition("\n")
    return int(status), body


def test_api_doc_examples_are_well_formed():
    examples = parse_examples(API_DOC.read_text(encoding="utf-8"))
    assert len(examples) >= 30
    for example in examples:
        where = f"docs/api.md line {example.line}"
        assert example.command.startswith("curl "), where
        assert '"$BASE/api/v1/' in example.command, f"{where}: use $BASE"
        assert example.status is not None, f"{where}: say the status after the command, e.g. `200 OK`"
        assert example.has_json or example.status == 204, f"{where}: show the response"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_api_doc_examples_run_top_to_bottom(api_server):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **api_server}
    for example in parse_examples(API_DOC.read_text(encoding="utf-8")):
        where = f"docs/api.md line {example.line}"
        status, body = run_example(example, env)
        assert status == example.status, f"{where}: status {status}, documented {example.status}: {body[:500]}"
        if example.has_json:
            try:
                actual = json.loads(body)
            except ValueError:
                pytest.fail(f"{where}: the response is not JSON: {body[:500]}")
            assert_same_shape(example.response, actual, where)
        else:
            assert body == "", f"{where}: documented no body, got {body[:200]}"


def test_metadata_doc_lists_every_field_type_with_its_operators_and_widget():
    text = METADATA_DOC.read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_]+)`", cells[0]) if len(cells) >= 5 else None
        if match and match[1] in {t.name for t in BUILTIN_TYPES}:
            rows[match[1]] = cells
    for cls in BUILTIN_TYPES:
        assert cls.name in rows, f"docs/metadata.md has no row for field type {cls.name}"
        cells = rows[cls.name]
        operators = set(re.findall(r"`([a-z]+)`", cells[3]))
        assert operators == set(cls.operators), f"{cls.name}: documented {operators}, real {set(cls.operators)}"
        assert f"`{cls.widget}`" in cells[4], f"{cls.name}: widget {cls.widget} not documented"
