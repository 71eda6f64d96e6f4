"""The one `QAService` a server holds, loaded once and shared by the page and the API.

Loading (model, FAISS, BM25) takes seconds, so it happens once at startup. When it fails
(no index yet, model missing, damaged files) the server still starts: every request gets
the reason as a readable error, and loading is retried on a later request, so building
the index while the server runs brings it up without a restart.

A rebuild or `--update` while serving publishes a new build (the CURRENT pointer moves).
Every `reload_seconds` a request checks the pointer; when it moved, the new build is
opened and verified in a background thread while requests go on being answered from the
old one, then swapped in; the loaded models are kept. A new build that fails to open is
logged and reported by `/api/health`, and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from index import layout
from qa.errors import ArchiveQAError, ServiceUnavailable
from qa.service import QAService, open_index
from qa.settings import Settings

log = logging.getLogger("archive_qa.ui")


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
        self._checked_at = time.monotonic()
        self._reloading: threading.Thread | None = None
        self._failed_build: Path | None = None
        self.reload_error: str | None = None
        self._closed = False

    def load(self) -> None:
        """Try to load now (at startup); failures are remembered, not raised."""
        try:
            self.get()
        except ServiceUnavailable as exc:
            log.warning("archive-qa: index not available: %s", exc)

    def get(self) -> QAService:
        service = self._service
        if service is not None:
            self._maybe_reload(service)
            return service
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

    def _maybe_reload(self, service: QAService) -> None:
        """Start loading a newer build in the background when CURRENT has moved."""
        every = self.settings.reload_seconds
        now = time.monotonic()
        if not every or now - self._checked_at < every:
            return
        with self._lock:
            if now - self._checked_at < every or self._reloading is not None:
                return
            self._checked_at = now
            try:
                live_build = getattr(service.index, "live_build", None)  # Milvus: the alias
                live = live_build() if live_build else layout.current_build(self.settings.index_dir)
            except Exception:  # the pointer is gone, unreadable or being replaced:
                return  # keep serving what we have
            if live is None or live == service.index.build:
                self._failed_build, self.reload_error = None, None  # (pointed back at it)
                return
            if live == self._failed_build:
                return
            self._reloading = threading.Thread(
                target=self._reload, args=(service, live), name="archive-qa-reload", daemon=True
            )
            self._reloading.start()

    def _reload(self, old: QAService, build: Path) -> None:
        try:
            try:
                # This very build (not whatever CURRENT names by now): a failure then
                # names the build that failed, and a newer one is tried on its own.
                fresh = old.with_index(open_index(self.settings, old.embedder, build))
            except Exception as exc:  # a damaged new build: keep serving the old one
                log.warning("archive-qa: not switching to build %s: %s", build.name, exc)
                with self._lock:
                    self._failed_build = build
                    self.reload_error = f"a newer build ({build.name}) could not be loaded: {exc}"
                return
            with self._lock:
                if self._closed:
                    fresh.close()
                    return
                self._service = fresh
                self._failed_build = None
                self.reload_error = None
                self._owned = True
        finally:
            self._reloading = None
        # The old service is not closed here: requests still running on it finish with
        # its open files, and it is released when the last of them drops it.
        log.info("archive-qa: now serving build %s", fresh.index.build.name)

    @property
    def error(self) -> str | None:
        return None if self._service is not None else self._error

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if self._owned and self._service is not None:
            self._service.close()
            self._service = None
