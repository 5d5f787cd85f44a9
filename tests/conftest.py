"""What the whole suite shares beyond the fixtures of metacrm's pytest
plugin (:mod:`metacrm.plugins.testing`: ``backend``, ``config``,
``instance``, ``app``, ``client``, ``world``, ``package_tenant``), which
installing metacrm registers; the suite uses it as any plugin's tests do.

The names tests import from here are the plugin's, re-exported.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from werkzeug.routing import Rule

from metacrm.plugins.testing import BACKENDS, PASSWORD, PG_URL, World, drop_namespaces, make_config

# CI runs property tests on a fixed seed, so a submission's result can be
# reproduced; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

__all__ = ["BACKENDS", "PASSWORD", "PG_URL", "World", "drop_namespaces", "make_config"]


@pytest.fixture(autouse=True, scope="session")
def _url_builders_compiled_once():
    """Most tests build an app of their own, and Werkzeug compiles two URL
    builders per route with ``compile()``: about 0.4 s per app for our 240
    routes, a tenth of the suite. A builder depends only on the rule's text,
    its variables and defaults (it reads the rule's converters at call time),
    so the tests reuse one per shape. Production builds its app once per
    worker and is left alone."""
    original = Rule._compile_builder
    builders: dict = {}

    def compile_builder(rule, append_unknown=True):
        key = (rule.rule, rule.host, rule.subdomain, tuple(rule._trace), repr(rule.defaults), append_unknown)
        if key not in builders:
            builders[key] = original(rule, append_unknown)
        return builders[key]

    Rule._compile_builder = compile_builder
    yield
    Rule._compile_builder = original
