"""The printable report as a PDF: the same HTML (core/report/report_html.py) drawn by xhtml2pdf, in memory."""

from __future__ import annotations

import io
import logging


class ReportPdfError(Exception):
    pass


def report_pdf(html: str) -> bytes:
    # Imported here, when a PDF is asked for: the Classify page imports this module before its first verdict.
    from xhtml2pdf import pisa

    out = io.BytesIO()
    # xhtml2pdf logs every CSS property it skips as a warning; that is noise for users, not a problem.
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    status = pisa.CreatePDF(src=html, dest=out)
    if status.err:
        raise ReportPdfError("The PDF could not be made from this report; download the HTML and print it instead.")
    return out.getvalue()
