"""The benchmark scripts still run: each one, at its ``--smoke`` size, on
SQLite and (when METACRM_TEST_DATABASE_URL is set) on PostgreSQL.

A smoke run builds the same data, asserts the same agreements (the product
path and the hand-written baseline return the same rows or values) and prints
the same JSON line as a real run; only the sizes are tiny, so the figures mean
nothing. Timings are never asserted here (DESIGN.md §9): bench/ reports them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, PG_URL

BENCH = Path(__file__).resolve().parent.parent / "bench"
DATABASE_SCRIPTS = [
    "rules_where",
    "access_list",
    "access_overhead",
    "enforcer_load",
    "record_page",
    "list_page",
    "list_html",
    "get_by_id",
    "bulk_create",
    "import_csv",
]


def _smoke(script: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["bench"] == script
    assert payload["mode"] == "smoke"
    for key in ("metrics", "baseline", "ratio", "goal"):
        assert payload[key], f"{script}: empty {key}"
    assert all(isinstance(v, int | float) and v > 0 for v in payload["ratio"].values()), payload["ratio"]
    return payload


@pytest.mark.parametrize("script", DATABASE_SCRIPTS)
def test_database_benchmark_runs_and_prints_its_result_line(script, backend):
    payload = _smoke(script, "--database-url", PG_URL if backend == "postgresql" else "sqlite")
    assert payload["database"] == backend


def test_rule_evaluation_benchmark_runs_and_prints_its_result_line():
    # No database: the rule is compiled against an in-memory model.
    payload = _smoke("rules_eval")
    assert payload["metrics"]["closure_records_per_s"] > 0


@pytest.mark.skipif(not PG_URL, reason="bench/load.py serves PostgreSQL only")
def test_load_benchmark_serves_and_prints_its_result_line():
    # The real `metacrm serve` and the bare server, a few clients for a second each.
    payload = _smoke("load", "--database-url", PG_URL, "--clients", "4", "--seconds", "1")
    assert payload["database"] == "postgresql"
    assert payload["metrics"]["errors"] == 0
    assert set(payload["metrics"]["by_op"]) == {"list", "get", "create", "patch"}


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="measures PostgreSQL's catalog (METACRM_TEST_DATABASE_URL)")
def test_tenants_benchmark_runs_and_prints_its_result_line():
    payload = _smoke("tenants", "--database-url", PG_URL)
    metrics = payload["metrics"]
    assert metrics["tenants"] == 3 and metrics["models_cached"]["bounded"] == 1
