"""Cells of files the system writes for people to open in a spreadsheet program (CSV, XLSX).

A text typed by a user (a unit's name) that starts with ``=``, ``+``, ``-`` or ``@`` is read
by Excel, LibreOffice and Google Sheets as a formula: ``=HYPERLINK("http://x","y")`` in a
template becomes a live link, others run commands ("CSV injection", "formula injection").
Following OWASP (https://owasp.org/www-community/attacks/CSV_Injection), such a text, and one
starting with a tab or a carriage return, is written with a single quote ``'`` before it, so
it is shown as text. Numbers stay numbers. Pure: usable by any service writing such a file.
"""

from __future__ import annotations

from typing import TypeVar

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

T = TypeVar("T")


def inert(value: T) -> T | str:
    """``value`` safe to put in a cell: a text starting like a formula gets a ``'`` before
    it; anything else (numbers, dates, None, other texts) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_row(values: list[T]) -> list[T | str]:
    """Each cell of a row, through ``inert``."""
    return [inert(v) for v in values]
