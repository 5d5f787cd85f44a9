"""The screens' zh_CN catalog is complete and compiled: every string marked
for translation in the code and templates has a Chinese text, and the
shipped .mo says what the .po says."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "metacrm/ui/translations/zh_CN/LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "pgettext": ((1, "c"), 2)}
METHODS = [("metacrm/**.py", "python"), ("metacrm/ui/templates/**.html", "jinja2")]


def _marked_strings() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _po():
    with open(CATALOG / "messages.po", "rb") as f:
        return read_po(f, locale="zh_CN")


def _texts(message) -> list[str]:
    return list(message.string) if isinstance(message.string, list | tuple) else [message.string]


def test_every_marked_string_has_a_chinese_text():
    catalog = _po()
    untranslated = sorted(
        message for message in _marked_strings() if not (catalog.get(message) and all(_texts(catalog.get(message))))
    )
    assert not untranslated, "add to messages.po (then pybabel compile):\n" + "\n".join(untranslated)


def _entries(catalog) -> dict:
    """msgid → msgstr, plural entries as tuples (lists are not hashable)."""
    as_key = lambda text: tuple(text) if isinstance(text, list | tuple) else text  # noqa: E731
    return {as_key(m.id): as_key(m.string) for m in catalog if m.id and m.string}


def test_the_compiled_catalog_matches_the_po():
    with open(CATALOG / "messages.mo", "rb") as f:
        compiled = _entries(read_mo(f))
    assert compiled == _entries(_po()), "run: pybabel compile -d metacrm/ui/translations"
