"""The Word documents (issue 11): the yearly report, the mid-term and the final review, laid out
as Vietnamese administrative reports (Decree 30/2020/NĐ-CP), charts embedded as PNG. Pure and
CPU-bound: the figures are read first (``services.reporting.service.documents``), the documents
are written from them off the event loop."""

from __future__ import annotations

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
