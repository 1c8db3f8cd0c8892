"""Files the services hand out for download: the ``Content-Disposition`` of an attachment with
a Vietnamese name, and the response carrying such a file."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from chungtay_common import clock
from chungtay_common.tables import CSV_TYPE, XLSX_TYPE, FileFormat, Table, render

# RFC 5987 attr-char: what ``filename*`` may carry unencoded
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(file_name: str) -> str:
    """``attachment`` with the file name (RFC 6266): an ASCII ``filename`` for old clients (the
    Vietnamese letters without their marks, đ as d, anything else unsafe as ``_``) and the exact
    name in ``filename*`` (RFC 5987, UTF-8, percent-encoded)."""
    plain = unicodedata.normalize("NFKD", file_name.replace("đ", "d").replace("Đ", "D"))
    ascii_name = "".join(c for c in plain if not unicodedata.combining(c))
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\%/' else "_"
                         for c in ascii_name) or "file"
    return (f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(file_name, safe=_ATTR_CHARS)}")


def attachment(content: bytes, media_type: str, file_name: str) -> Response:
    """``content`` as a download named ``file_name`` (NFC), which the browser does not sniff
    and no cache keeps (a file may hold personal data, and each one is of its moment)."""
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": content_disposition(unicodedata.normalize("NFC", file_name)),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


# what a route answering with a table file declares as its 200, so the OpenAPI document is true
TABLE_FILE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file, as an attachment: CSV (UTF-8 with a byte-order mark) or XLSX, "
                   "as the path's extension asks",
    "content": {CSV_TYPE: {"schema": {"type": "string"}},
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


async def table_file(tables: Sequence[Table], fmt: FileFormat, name: str) -> Response:
    """The tables written as ``fmt`` (off the event loop: XLSX is CPU work), as an attachment
    named ``name`` with the format's extension."""
    content = await run_in_threadpool(render, tables, fmt)
    return attachment(content, fmt.media_type, f"{name}.{fmt.value}")


def dated_name(what: str) -> str:
    """A file's name: what it holds, then when it was generated (Vietnam's date and time)."""
    return f"{what} {clock.now().astimezone(clock.VN):%Y-%m-%d %H%M}"
