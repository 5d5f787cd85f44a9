"""``metacrm plugin new NAME --path DIR``: write a working plugin package.

The files under ``template/`` are copied with ``$name`` (the plugin and
entry-point name), ``$module`` (``metacrm_<name>``), ``$dist``
(``metacrm-<name>``), ``$object`` (its one object) and ``$label``
substituted (``string.Template``); ``__module__``, ``__object__`` and
``__name__`` in a path are replaced the same way and the ``.tmpl`` suffix
dropped. The result installs with pip and its tests pass as written
(tests/plugins/test_scaffold.py checks that)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from metacrm.platform.errors import BadRequest

TEMPLATE_DIR = Path(__file__).parent / "template"
# a Python identifier that is also a good entry-point, table and object prefix
PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{1,29}$")


def substitutions(name: str) -> dict[str, str]:
    return {
        "name": name,
        "module": f"metacrm_{name}",
        "dist": "metacrm-" + name.replace("_", "-"),
        "object": f"{name}_item",
        "label": name.replace("_", " ").title(),
    }


def write_plugin(name: str, path: Path) -> Path:
    """Write plugin ``name`` into the new folder ``path``; return it."""
    if not PLUGIN_NAME.match(name):
        raise BadRequest(
            f"{name!r} is no plugin name: 2-30 lower-case letters, digits or _, starting with a letter",
            details={"fields": {"name": ["use lower-case letters, digits and _"]}},
        )
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise BadRequest(f"{path} is not empty", details={"fields": {"path": ["choose a new or empty folder"]}})
    values = substitutions(name)
    renames = {"__module__": values["module"], "__object__": values["object"], "__name__": name}
    for source in sorted(TEMPLATE_DIR.rglob("*.tmpl")):
        relative = str(source.relative_to(TEMPLATE_DIR)).removesuffix(".tmpl")
        for placeholder, value in renames.items():
            relative = relative.replace(placeholder, value)
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
    return path
