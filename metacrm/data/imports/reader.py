"""Reading an uploaded CSV or XLSX file as a stream of rows of text.

A CSV's encoding is found from its first bytes (a byte-order mark; valid
UTF-8; else charset-normalizer's best guess, GB2312/GBK widened to
GB18030, their superset) and its delimiter sniffed among ``, ; TAB |``.
An XLSX is read with openpyxl in read-only mode, which parses the sheet as
it goes. Either way rows are yielded one at a time, so memory stays flat
whatever the file's size.

Row numbers are the spreadsheet's: the header is row 1, the first record
row 2. Wholly empty rows are skipped (their numbers too).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from metacrm.platform.errors import ValidationFailed

SAMPLE_BYTES = 256 * 1024
DELIMITERS = ",;\t|"
EXTENSIONS = ("csv", "txt", "tsv", "xlsx")
csv.field_size_limit(16 * 1024 * 1024)


def kind_of(file_name: str) -> str:
    """``csv`` or ``xlsx`` by the file name's extension (refused otherwise)."""
    extension = Path(file_name or "").suffix.lower().lstrip(".")
    if extension == "xlsx":
        return "xlsx"
    if extension in ("csv", "txt", "tsv"):
        return "csv"
    raise ValidationFailed(
        "import a .csv or .xlsx file", details={"fields": {"file": ["must be a .csv or .xlsx file"]}}
    )


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # A sample cut inside a character: only its last 3 bytes may be partial.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    encoding = (best.encoding if best is not None else "gb18030").lower().replace("-", "_")
    if encoding in ("gb2312", "gbk", "hz", "gb18030", "cp936"):
        return "gb18030"
    return encoding


def sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0]
        return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


@dataclass
class TableFile:
    """An opened import file: its ``headers`` and a one-pass ``rows()``
    iterator of ``(row number, cells)``, every cell text."""

    path: Path
    kind: str
    headers: list[str]
    encoding: str | None = None
    delimiter: str | None = None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        if self.kind == "xlsx":
            yield from _xlsx_rows(self.path, skip_header=True)
        else:
            yield from _csv_rows(self.path, self.encoding, self.delimiter, skip_header=True)

    def sample(self, count: int = 3) -> list[list[str]]:
        out = []
        for _, cells in self.rows():
            out.append(cells)
            if len(out) >= count:
                break
        return out

    def count_rows(self) -> int:
        return sum(1 for _ in self.rows())


def open_table(path: Path | str, file_name: str | None = None) -> TableFile:
    """Open ``path`` (a CSV or XLSX file, by ``file_name``'s extension) and
    read its header row; ValidationFailed (field ``file``) when it has none
    or cannot be read."""
    path = Path(path)
    kind = kind_of(file_name or path.name)
    try:
        if kind == "xlsx":
            first = next(_xlsx_rows(path, skip_header=False), None)
            table = TableFile(path, kind, [])
        else:
            with path.open("rb") as handle:
                sample = handle.read(SAMPLE_BYTES)
            encoding = detect_encoding(sample)
            text = sample.decode(encoding, errors="ignore")
            delimiter = sniff_delimiter(text)
            table = TableFile(path, kind, [], encoding, delimiter)
            first = next(_csv_rows(path, encoding, delimiter, skip_header=False), None)
    except ValidationFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
        raise ValidationFailed(
            f"the file cannot be read: {exc}", details={"fields": {"file": [f"cannot be read: {exc}"]}}
        ) from None
    if first is None or not any(cell.strip() for cell in first[1]):
        raise ValidationFailed(
            "the file has no header row", details={"fields": {"file": ["has no header row with column names"]}}
        )
    headers = [cell.strip() for cell in first[1]]
    while headers and not headers[-1]:
        headers.pop()
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = header or f"column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        headers[index] = name
    table.headers = headers
    return table


def _csv_rows(path: Path, encoding: str, delimiter: str, *, skip_header: bool) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding=encoding, newline="", errors="strict") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        number = 0
        try:
            for cells in reader:
                number += 1
                if number == 1 and skip_header:
                    continue
                if not any(cell.strip() for cell in cells):
                    continue
                yield number, cells
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"row {number + 1} is not valid {encoding} text",
                details={"fields": {"file": [f"row {number + 1} is not valid {encoding} text: {exc.reason}"]}},
            ) from None


def _xlsx_rows(path: Path, *, skip_header: bool) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number == 1 and skip_header:
                continue
            cells = [cell_text(value) for value in values]
            if not any(cell.strip() for cell in cells):
                continue
            yield number, cells
    finally:
        workbook.close()


def cell_text(value) -> str:
    """A spreadsheet cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value)
