"""How a spreadsheet cell holds a value: formulas neutralised, lists escaped, text decoded.

Each function here has an inverse, so a value exported and imported again is the same value:

- **Formulas.** Excel and LibreOffice run a CSV cell starting with ``= + - @``, a tab or a carriage
  return as a formula (OWASP, "CSV Injection"). Such text cells are written with a single quote in
  front, and so is a cell that itself starts with a quote; the import removes exactly one quote
  when it is followed by one of those characters, and keeps any other quote.
- **Lists** (amenities, awards) are items joined by ``"; "``. An office may separate items
  with ``;``, ``；``, ``、``, ``,`` or ``，`` and pad them with spaces; the export escapes with a
  backslash each of those separators, each backslash and any whitespace at an item's ends, so an
  item holding a comma or 、 or padding comes back whole. A backslash before any other character
  is kept.
- **Text encodings.** CSV files are read as UTF-8 (with or without a BOM), UTF-16 (with a BOM, as
  Excel's "Unicode text" writes; or without, recognised by its zero bytes) or GB18030 (which
  includes GBK, what Excel on a Chinese Windows writes); anything else is refused in one line that
  says how to save as CSV UTF-8.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from typing import Any

from stations.errors import InvalidInput

#: Cells starting with these run as formulas (OWASP); a quote is added so the prefix is reversible.
FORMULA_START = frozenset("=+-@\t\r")
QUOTED_START = FORMULA_START | {"'"}
SEPARATORS = frozenset(";；、,，")
ESCAPE = "\\"

SAVE_AS_UTF8 = (
    "in Excel choose 另存为 / Save As > 'CSV UTF-8 (逗号分隔) / CSV UTF-8 (Comma delimited)' "
    "and import that file"
)


def neutralise(value: Any) -> Any:
    """A text cell as a CSV holds it: a ``'`` in front when it could start a formula."""
    if isinstance(value, str) and value[:1] in QUOTED_START:
        return "'" + value
    return value


def restore(value: str) -> str:
    """The inverse of `neutralise`: one leading ``'`` removed when `neutralise` put it there."""
    if value[:1] == "'" and value[1:2] in QUOTED_START:
        return value[1:]
    return value


def join_items(items: Iterable[str]) -> str:
    """List items as one cell, each escaped so that `split_items` gives them back."""
    return "; ".join(_escape_item(item) for item in items)


def _escape_item(item: str) -> str:
    out = [ESCAPE + c if c == ESCAPE or c in SEPARATORS else c for c in item]
    for i in range(len(out)):  # leading whitespace
        if not item[i].isspace():
            break
        out[i] = ESCAPE + item[i]
    for i in range(len(out) - 1, -1, -1):  # trailing whitespace
        if not item[i].isspace():
            break
        out[i] = ESCAPE + item[i]
    return "".join(out)


def split_items(cell: str) -> list[str]:
    """Items of a list cell: split at unescaped separators, unescaped end whitespace trimmed.

    Empty items (``a;;b``, a trailing ``、``) are dropped.
    """
    items: list[str] = []
    chars: list[tuple[str, bool]] = []  # (character, escaped)
    i = 0
    while i <= len(cell):
        c = cell[i] if i < len(cell) else None
        if c is None or c in SEPARATORS:
            item = _trim(chars)
            if item:
                items.append(item)
            chars = []
        elif c == ESCAPE and i + 1 < len(cell) and _escapable(cell[i + 1]):
            chars.append((cell[i + 1], True))
            i += 1
        else:
            chars.append((c, False))
        i += 1
    return items


def _escapable(c: str) -> bool:
    return c == ESCAPE or c in SEPARATORS or c.isspace()


def _trim(chars: list[tuple[str, bool]]) -> str:
    start, end = 0, len(chars)
    while start < end and chars[start][0].isspace() and not chars[start][1]:
        start += 1
    while end > start and chars[end - 1][0].isspace() and not chars[end - 1][1]:
        end -= 1
    return "".join(c for c, _ in chars[start:end])


def decode_text(data: bytes, name: str) -> str:
    """The text of a CSV file in whichever encoding Excel or an editor saved it.

    Raises
    ------
    InvalidInput
        One line naming the file and how to save it as CSV UTF-8.
    """
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding, name)
    if b"\x00" in data[:4096]:  # UTF-16 without a BOM: every ASCII character has a zero byte
        head = data[:4096]
        zeros_odd = head[1::2].count(0) > head[0::2].count(0)
        return _decode(data, "utf-16-le" if zeros_odd else "utf-16-be", name)
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{name}: the text is not UTF-8, UTF-16 or GB18030 (GBK); " + SAVE_AS_UTF8)


def _decode(data: bytes, encoding: str, name: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not valid {encoding.upper()} text; " + SAVE_AS_UTF8) from None
    if "\x00" in text:
        raise InvalidInput(f"{name}: the text holds zero characters; " + SAVE_AS_UTF8)
    return text


def delimiter(first_line: str) -> str:
    """A tab for Excel's tab-separated "Unicode text", else a comma."""
    return "\t" if "\t" in first_line and "," not in first_line else ","
