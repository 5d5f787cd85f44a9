"""What the whole suite shares beyond the fixtures of metacrm's pytest
plugin (:mod:`metacrm.plugins.testing`: ``backend``, ``config``,
``instance``, ``app``, ``client``, ``world``, ``package_tenant``), which
installing metacrm registers; the suite uses it as any plugin's tests do.

The names tests import from here are the plugin's, re-exported.
"""

from __future__ import annotations

import os

from hypothesis import settings

from metacrm.plugins.testing import BACKENDS, PASSWORD, PG_URL, World, drop_namespaces, make_config

# CI runs property tests on a fixed seed, so a submission's result can be
# reproduced; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

__all__ = ["BACKENDS", "PASSWORD", "PG_URL", "World", "drop_namespaces", "make_config"]
