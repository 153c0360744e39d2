"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served
with their JavaScript, stylesheet and icon from this package, so they work on a council
laptop with no internet and load nothing from a CDN. FastAPI's own pages fetch both
from jsDelivr (and ReDoc's fonts from Google): a blank page offline.

The files under `shared/static/docs/` are the npm releases named in their file names
(`swagger-ui-dist`, `redoc`), copied unchanged with their licences. `/docs/assets/…`
answers only those files, and a browser may cache them (their names carry the release).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from shared.problems import Problem

ASSETS = Path(__file__).resolve().parent / "static" / "docs"
ASSETS_PATH = "/docs/assets/"
SWAGGER_JS = "swagger-ui-bundle-5.35.0.js"
SWAGGER_CSS = "swagger-ui-5.35.0.css"
REDOC_JS = "redoc-2.5.4.standalone.js"
FAVICON = "favicon-32x32.png"
MEDIA_TYPES = {
    SWAGGER_JS: "text/javascript",
    SWAGGER_CSS: "text/css",
    REDOC_JS: "text/javascript",
    FAVICON: "image/png",
}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install_docs(app: FastAPI) -> None:
    """`/docs`, `/docs/oauth2-redirect`, `/redoc` and their assets, on an app made with
    `docs_url=None, redoc_url=None` (FastAPI's CDN pages off)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=ASSETS_PATH + SWAGGER_JS,
            swagger_css_url=ASSETS_PATH + SWAGGER_CSS,
            swagger_favicon_url=ASSETS_PATH + FAVICON,
            oauth2_redirect_url=OAUTH2_REDIRECT,
            # No badge fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=ASSETS_PATH + REDOC_JS,
            redoc_favicon_url=ASSETS_PATH + FAVICON,
            with_google_fonts=False,
        )

    @app.get(ASSETS_PATH + "{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        media = MEDIA_TYPES.get(name)
        if media is None:
            raise Problem(404, "Not found", "No such file.", type="not-found")
        return FileResponse(ASSETS / name, media_type=media)
