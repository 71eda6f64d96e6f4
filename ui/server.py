"""One process serving the page, the HTTP API and the embeddable web component.

A FastAPI app holds the API routes (with OpenAPI docs at `/docs`), Gradio's page is
mounted at `/`, and the service is loaded once before the first request. The optional
API key guards everything; the CORS allow-list lets named portal origins call the API.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse

from qa.service import QAService
from qa.settings import Settings
from ui.api import install_error_handlers, router
from ui.auth import APIKeyMiddleware
from ui.holder import ServiceHolder
from ui.page import CSS, JS, THEME, build_page

# Gradio's web-component loader ships inside the gradio package; serving it from here
# lets `<gradio-app>` work on a portal with no internet (it loads ./assets/... from us).
GRADIO_JS = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"


def create_app(settings: Settings, service: QAService | None = None) -> FastAPI:
    """The complete ASGI app. Pass `service` to reuse one already loaded (tests)."""
    holder = ServiceHolder(settings, service)
    holder.load()
    app = FastAPI(
        title="archive-qa",
        version="0.1.0",
        description="Question answering over news archives; every claim cited to its paragraph.",
    )
    app.state.holder = holder
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js() -> FileResponse:
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(APIKeyMiddleware, key=settings.api_key.get_secret_value())
    origins = settings.cors_origin_list()
    if origins:  # added last, so it runs first: preflights and 401s get CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],  # Gradio's client sends its own headers too
        )
    return gr.mount_gradio_app(
        app,
        build_page(holder),
        path="/",
        footer_links=["api"],
        theme=THEME,
        css=CSS,
        js=JS,
        mcp_server=settings.mcp_server,
    )


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the server until interrupted (used by `archive-qa serve`)."""
    import uvicorn

    app = create_app(settings)
    try:
        # No access log: it would record `?api_key=` page logins in plain text.
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        app.state.holder.close()
