"""docs/plugins.md lists every hook specification, and nothing else."""

import inspect
import re
from pathlib import Path

from metacrm.platform.hooks import HookSpecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def test_every_hookspec_is_documented_with_its_arguments():
    text = DOC.read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, re.MULTILINE))
    specs = {name: fn for name, fn in inspect.getmembers(HookSpecs, inspect.isfunction)}
    assert set(documented) == set(specs)
    for name, fn in specs.items():
        arguments = [p for p in inspect.signature(fn).parameters if p != "self"]
        assert all(f"`{a}`" in documented[name] for a in arguments), name
        assert fn.__doc__, f"hook {name} has no docstring"
