"""The one `QAService` a server holds, loaded once and shared by the page and the API.

Loading (model, FAISS, BM25) takes seconds, so it happens once at startup. When it fails
(no index yet, model missing, damaged files) the server still starts: every request gets
the reason as a readable error, and loading is retried on a later request, so building
the index while the server runs brings it up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time

from index.errors import ArchiveQAError
from qa.service import QAService
from qa.settings import Settings

log = logging.getLogger("archive_qa.ui")


class ServiceUnavailable(ArchiveQAError):
    """The index or model could not be loaded; the message says why and what to do."""


class ServiceHolder:
    """Thread-safe lazy holder: `get()` returns the loaded service or raises the reason."""

    def __init__(
        self,
        settings: Settings,
        service: QAService | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        self.settings = settings
        self._service = service
        self._owned = service is None
        self._error: str | None = None
        self._failed_at = 0.0
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()

    def load(self) -> None:
        """Try to load now (at startup); failures are remembered, not raised."""
        try:
            self.get()
        except ServiceUnavailable as exc:
            log.warning("archive-qa: index not available: %s", exc)

    def get(self) -> QAService:
        if self._service is not None:
            return self._service
        with self._lock:
            if self._service is not None:
                return self._service
            recent = time.monotonic() - self._failed_at < self._retry_seconds
            if self._error is None or not recent:
                self._try_load()
            if self._service is None:
                raise ServiceUnavailable(self._error or "the index is not loaded")
            return self._service

    def _try_load(self) -> None:
        try:
            self._service = QAService.from_settings(self.settings)
            self._error = None
        except ArchiveQAError as exc:
            self._error = str(exc)
        except Exception as exc:  # a library failing to load: still a message, not a crash
            log.exception("loading the archive failed")
            self._error = f"the archive could not be loaded ({type(exc).__name__}: {exc})"
        if self._service is None:
            self._failed_at = time.monotonic()

    @property
    def error(self) -> str | None:
        return None if self._service is not None else self._error

    def close(self) -> None:
        if self._owned and self._service is not None:
            self._service.close()
            self._service = None
