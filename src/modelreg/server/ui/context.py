"""Who a dashboard request acts as, and how a page is rendered.

Every page and action gets a ``Ui``: the registry (a ``Service`` acting as the signed-in token, so the
service's permission checks apply exactly as on the REST API), the session and its CSRF token, and
``can(operation)``, which asks the service's own declaration (``service.permissions.OPERATIONS``) whether to
show a button. A request that needs a session and has none is sent to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import anyio.to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from modelreg import __version__
from modelreg.errors import ModelregError, PermissionDenied, StorageError, Unauthenticated
from modelreg.server.auth import state_of
from modelreg.server.state import ServerState
from modelreg.server.ui import format as fmt
from modelreg.server.ui.session import COOKIE, Session, csrf_ok, csrf_token, seal, server_key, unseal
from modelreg.server.ui.words import UI_WORDS
from modelreg.service import Service
from modelreg.service.permissions import OPERATIONS, ROLE_ORDER
from modelreg.steps import hint_for

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
fmt.install(TEMPLATES.env)
MAX_FORM_BYTES = 64 * 1024


class SignInNeeded(Exception):
    """The server has tokens and the browser has no valid session: go to the sign-in page."""


@dataclass
class Ui:
    request: Request
    reg: Service
    session: Session
    key: bytes
    signed_in: bool  # a token session (False on a token-less server)
    set_cookie: bool = False
    form: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return csrf_token(self.session, self.key)

    @property
    def actor(self) -> str:
        return self.reg.ctx.actor

    @property
    def role(self) -> str:
        return self.reg.ctx.role

    def can(self, operation: str, *, protected: bool = False) -> bool:
        """Whether the service would let this principal run ``operation`` (a protected alias: maintainer)."""
        permission = OPERATIONS[operation]
        needed = "maintainer" if protected and permission.mutates else permission.role
        if needed is not None and ROLE_ORDER[self.role] < ROLE_ORDER[needed]:
            return False
        return not (permission.registry_wide and self.reg.ctx.project_scope is not None)

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        response = TEMPLATES.TemplateResponse(self.request, template, {"ui": self, "version": __version__, **values},
                                              status_code=status)
        return self.finish(response)

    def finish(self, response: Response) -> Response:
        if self.set_cookie:
            set_session_cookie(response, self.request, self.session, self.key)
        response.headers["Cache-Control"] = "no-store"
        return response

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))


def set_session_cookie(response: Response, request: Request, session: Session, key: bytes) -> None:
    response.set_cookie(COOKIE, seal(session, key), max_age=max(0, session.expires - int(fmt.now_ts())),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")


def key_of(state: ServerState) -> bytes:
    key: bytes | None = getattr(state, "_ui_key", None)
    if key is None:
        key = server_key(state.settings.home)
        state._ui_key = key  # type: ignore[attr-defined]
    return key


async def ui_of(request: Request) -> Ui:
    """The dashboard's view of the request (a FastAPI dependency); raises SignInNeeded when it must sign in."""
    st = state_of(request)
    key = key_of(st)
    session = unseal(request.cookies.get(COOKIE), key)
    anonymous = st.service()
    if session is not None and session.token:
        info = st.tokens.peek(st.meta, session.token, anonymous.ctx.now())
        if info is None:
            try:
                info = await anyio.to_thread.run_sync(st.tokens.authenticate, anonymous, session.token)
            except Unauthenticated:
                raise SignInNeeded() from None
        reg = st.service(actor=info.name, role=info.role, project=info.project)
        return Ui(request=request, reg=reg, session=session, key=key, signed_in=True)
    has_tokens = st.tokens.peek_has_tokens(st.meta)
    if has_tokens is None:
        has_tokens = await anyio.to_thread.run_sync(st.tokens.has_tokens, anonymous)
    if st.require_auth or has_tokens:
        raise SignInNeeded()
    if session is None or session.token is not None:
        return Ui(request=request, reg=st.service(actor=st.settings.actor), session=Session.new(None), key=key,
                  signed_in=False, set_cookie=True)
    return Ui(request=request, reg=st.service(actor=st.settings.actor), session=session, key=key, signed_in=False)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body, one value per field (the last); bounded."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PermissionDenied("the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return {}
    # A browser sends a textarea's line breaks as CRLF; keep them as LF, as every other face stores them.
    return {name: values[-1].replace("\r\n", "\n") for name, values in fields.items()}


async def posted(request: Request) -> Ui:
    """The Ui of a form POST whose CSRF token matches its session; 403 otherwise."""
    ui = await ui_of(request)
    form = await read_form(request)
    if ui.set_cookie or not csrf_ok(ui.session, ui.key, form.get("csrf")):
        raise PermissionDenied("this form is stale or did not come from this dashboard (CSRF check)",
                               hint="reload the page and try again")
    ui.form = form
    return ui


def error_page(request: Request, exc: ModelregError, ui: Ui | None = None) -> Response:
    """One error page for every failure: the REST envelope's facts, with a next step in the dashboard's words."""
    hint = hint_for(exc.details, UI_WORDS, exc.hint)
    values = {"ui": ui, "version": __version__, "code": exc.code, "message": exc.message, "hint": hint,
              "status": exc.http_status, "details": {k: v for k, v in exc.details.items() if k != "step"}}
    response = TEMPLATES.TemplateResponse(request, "error.html", values, status_code=exc.http_status)
    return ui.finish(response) if ui is not None else response


class UiRoute(APIRoute):
    """A dashboard route: registry errors become the HTML error page, a missing session the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                return sign_in_redirect(request)
            except StorageError:
                raise  # answered without internals by the server's handler
            except ModelregError as exc:
                return error_page(request, exc)

        return handle


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status)
