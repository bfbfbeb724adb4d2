"""The web dashboard of ``modelreg serve``: server-rendered pages over the same service as the REST API.

``install(app)`` adds the pages (``pages``), the actions (``actions``), sign-in and sign-out, the static files
(``static/``: the dashboard's CSS and JavaScript, and htmx, uPlot and Swagger UI vendored with their licences,
so nothing loads from a CDN) and ``/docs``. Errors on a dashboard URL are an HTML page with the same facts as
the REST envelope; on ``/api/`` they stay JSON.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from modelreg.errors import Unauthenticated
from modelreg.server.auth import state_of
from modelreg.server.ui import actions, inferences, pages
from modelreg.server.ui.context import TEMPLATES, UiRoute, key_of, read_form, set_session_cookie
from modelreg.server.ui.session import COOKIE, Session, csrf_ok, csrf_token, unseal

STATIC = Path(__file__).parent / "static"
STATIC_URL = "/ui/static"


router = APIRouter(include_in_schema=False, route_class=UiRoute)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@router.get("/signin")
async def sign_in_page(request: Request, next: str = "/") -> Response:
    key = key_of(state_of(request))
    session = unseal(request.cookies.get(COOKIE), key) or Session.new(None)
    response = TEMPLATES.TemplateResponse(request, "signin.html", {
        "ui": None, "next": _safe_next(next), "csrf": csrf_token(session, key), "error": None})
    set_session_cookie(response, request, session, key)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    st = state_of(request)
    key = key_of(st)
    form = await read_form(request)
    session = unseal(request.cookies.get(COOKIE), key)
    target = _safe_next(form.get("next"))
    error = None
    if not csrf_ok(session, key, form.get("csrf")):
        error = "this form is stale: it was opened before the server restarted or in another browser; try again"
    else:
        secret = form.get("token", "").strip()
        try:
            info = await anyio.to_thread.run_sync(st.tokens.authenticate, st.service(), secret)
        except Unauthenticated as exc:
            error = exc.message
        else:
            done = RedirectResponse(target, status_code=303)
            set_session_cookie(done, request, Session.new(secret), key)
            del info
            return done
    fresh = Session.new(None)
    response = TEMPLATES.TemplateResponse(request, "signin.html", {
        "ui": None, "next": target, "csrf": csrf_token(fresh, key), "error": error}, status_code=401)
    set_session_cookie(response, request, fresh, key)
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    key = key_of(state_of(request))
    form = await read_form(request)
    session = unseal(request.cookies.get(COOKIE), key)
    if session is not None and not csrf_ok(session, key, form.get("csrf")):
        return HTMLResponse("this form is stale; reload the page", status_code=403)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="modelreg API",
                               swagger_js_url=f"{STATIC_URL}/vendor/swagger-ui-bundle-5.35.0.js",
                               swagger_css_url=f"{STATIC_URL}/vendor/swagger-ui-5.35.0.css",
                               swagger_favicon_url=f"{STATIC_URL}/vendor/swagger-favicon-32x32.png")


def install(app: FastAPI) -> None:
    """Serve the dashboard, its static files and the API docs (vendored) from ``app``."""
    for sub in (router, pages.router, actions.router, inferences.router):
        app.include_router(sub)
    app.add_api_route("/docs", _docs, include_in_schema=False, methods=["GET"])
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="ui-static")
