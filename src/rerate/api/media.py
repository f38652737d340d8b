"""Response classes for the API's non-JSON answers, so that the OpenAPI schema
declares the content type they really have (`response_class=`)."""

from __future__ import annotations

from fastapi.responses import Response


class CSVResponse(Response):
    media_type = "text/csv"


class PDFResponse(Response):
    media_type = "application/pdf"
