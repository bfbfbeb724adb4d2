"""``modelreg serve`` (the REST API on uvicorn) and ``modelreg tokens`` (API tokens for it).

``serve`` runs on the embedded registry ($MODELREG_HOME) or the stores MODELREG_DATABASE_URL and
MODELREG_ARTIFACTS name. Without any usable token it serves loopback only: on another address anyone who
reaches it would act as admin, so it refuses to start (exit 2) unless ``--insecure``. Started for other
hosts, it then needs a token on every request, even if all tokens are later revoked.

``tokens`` work on the embedded registry directly (the local user is admin there) or, with MODELREG_URL,
on a server through an admin token (MODELREG_TOKEN).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from modelreg.cli.common import JsonOpt, registry, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, when
from modelreg.config import DEFAULT_BODY_TIMEOUT_S, SETTINGS_ENV, Settings
from modelreg.config import parse_size as config_parse_size
from modelreg.errors import InvalidInput
from modelreg.types import ROLES, Role, TokenInfo

app = typer.Typer()
tokens_app = typer.Typer(help="API tokens of the server: create (shown once), list, revoke.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|y)?\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_expiry(text: str | None) -> float | None:
    """``30d``, ``12h``, ``90m``, ``1y`` or plain seconds -> seconds."""
    if text is None:
        return None
    m = _DURATION.match(text)
    if not m:
        raise InvalidInput(f"expiry {text!r} is not a duration", hint="e.g. 30d, 12h, 90m or 1y")
    return float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]


def parse_size(text: str) -> int:
    """``16MiB``, ``512k``, ``1G`` or plain bytes -> bytes."""
    try:
        return config_parse_size(text)
    except ValueError:
        raise InvalidInput(f"size {text!r} is not a size", hint="e.g. 16MiB, 512KiB or 1048576") from None


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings as the MODELREG_* variables the server's worker processes read."""
    env: dict[str, str] = {}
    for name, var in SETTINGS_ENV.items():
        value = getattr(settings, name)
        if value is not None and value != "":
            env[var] = str(value)
    return env


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="The address to listen on (0.0.0.0: every interface).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="The TCP port.")] = 8080,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=256,
                                         help="Worker processes (each opens the stores once).")] = 1,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Serve beyond loopback without tokens: anyone who reaches it acts as admin.")] = False,
    max_body: Annotated[str, typer.Option(
        "--max-body", help="The largest JSON request body (file uploads are streamed and not limited).")]
    = "16MiB",
    body_timeout: Annotated[float, typer.Option(
        "--body-timeout", min=1.0, max=3600.0,
        help="Seconds a request body may send nothing before it is refused (408) and its connection closed.")]
    = DEFAULT_BODY_TIMEOUT_S,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="A host name a server without tokens answers besides localhost (repeatable); "
                               "other Host headers are refused, which stops DNS rebinding.")] = None,
    loop: Annotated[str, typer.Option("--loop", help="The event loop: auto (uvloop when installed), asyncio "
                                                     "or uvloop.")] = "auto",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = True,
) -> None:
    """Run the registry server: the dashboard at /, the REST API under /api/v1 (interactive docs at /docs).

    It serves the embedded registry ($MODELREG_HOME), or the stores MODELREG_DATABASE_URL and
    MODELREG_ARTIFACTS name. Without a token it listens on loopback only; create one first
    (modelreg tokens create NAME --role admin) to serve other hosts.

    \b
    Example: modelreg serve --port 8080
             MODELREG_URL=http://127.0.0.1:8080 modelreg versions fire-detector
    """
    try:
        from modelreg.server.runner import is_loopback, run
        from modelreg.server.state import ServeOptions
    except ImportError as exc:
        raise CliError(f"the server needs packages that are not installed ({exc.name})",
                       hint="pip install 'modelreg[server]'", exit_code=ExitCode.USAGE) from exc

    st = state(ctx)
    limit = parse_size(max_body)
    loopback = is_loopback(host)
    has_tokens = False
    if not loopback:  # only then does it matter before starting (loopback starts faster without the look)
        local = st.embedded()
        try:
            has_tokens = local.has_tokens()
        finally:
            if st.opener.close:
                local.close()
    if not loopback and not has_tokens and not insecure:
        raise CliError(f"refusing to serve on {host} without API tokens: anyone who reaches it would act as admin",
                       hint="create a token first: modelreg tokens create NAME --role admin (clients pass it as "
                            "MODELREG_TOKEN), or pass --insecure to serve it open anyway",
                       exit_code=ExitCode.USAGE)
    shown = f"[{host}]" if ":" in host else host
    if loopback:
        auth = "open to this machine until a token exists"
    elif has_tokens or not insecure:
        auth = "tokens required"
    else:
        auth = "NO TOKENS: anyone who reaches it acts as admin (--insecure)"
    st.err.print(f"modelreg serving {st.settings.resolved_database_url} on http://{shown}:{port} "
                 f"({workers} worker{'s' if workers > 1 else ''}; {auth}); docs at /docs", soft_wrap=True)
    options = ServeOptions(max_body_bytes=limit, require_auth=not loopback and not insecure,
                           body_timeout_s=body_timeout, bind_host=host,
                           allowed_hosts=tuple(h.strip().lower() for h in allowed_host or [] if h.strip()))
    environ = {**settings_environment(st.settings), **options.to_env()}
    if loop not in ("auto", "asyncio", "uvloop"):
        raise InvalidInput(f"--loop {loop!r} is not auto, asyncio or uvloop")
    run(host=host, port=port, workers=workers, environ=environ, loop=loop, log_level=log_level.lower(),
        access_log=access_log)


def _status(token: TokenInfo, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.active_at(now) else "expired"


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name: events record it as the actor.")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of {', '.join(ROLES)}.")],
    project: Annotated[str | None, typer.Option("--project", help="Limit the token to one project.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Expire after this long: 30d, 12h, 1y.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print its secret (shown this once; only its hash is stored).

    The secret alone goes to stdout, so a script can capture it.

    \b
    Example: modelreg tokens create ci --role editor --expires 90d
             export MODELREG_TOKEN=$(modelreg tokens create alice --role maintainer)
    """
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}", field="role")
    chosen: Role = role  # type: ignore[assignment]
    info, secret = registry(ctx).create_token(name, chosen, project=project, expires_in_s=parse_expiry(expires))
    st = state(ctx)
    if as_json:
        emit_json({"token": info, "secret": secret})
        return
    scope = f"project {info.project}" if info.project else "every project"
    until = f", expires {when(info.expires_at)}" if info.expires_at else ""
    st.err.print(f"created token {info.name!r}: {info.role} on {scope}{until}", soft_wrap=True)
    st.err.print("the secret is shown this once; pass it as MODELREG_TOKEN (or Authorization: Bearer …):",
                 soft_wrap=True)
    st.out.print(secret, soft_wrap=True)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the tokens: name, role, project, created, expiry, status (never the secrets).

    \b
    Example: modelreg tokens list --json
    """
    items = registry(ctx).list_tokens()
    if as_json:
        emit_json(items)
        return
    st = state(ctx)
    if not items:
        st.out.print("no tokens: the server allows local admin access on loopback only; "
                     "create one with modelreg tokens create NAME --role admin", soft_wrap=True)
        return
    now = datetime.now(UTC)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "role", "project", "created", "by", "expires", "status"):
        table.add_column(column)
    for t in items:
        table.add_row(t.name, t.role, t.project or "*", when(t.created_at), t.created_by,
                      when(t.expires_at) if t.expires_at else "never", _status(t, now))
    st.out.print(table)


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token to revoke.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: requests with it are refused from now on (it keeps its name).

    \b
    Example: modelreg tokens revoke ci
    """
    info = registry(ctx).revoke_token(name)
    if as_json:
        emit_json(info)
        return
    state(ctx).out.print(f"revoked token {info.name!r}", soft_wrap=True)


@tokens_app.command("purge")
def purge_tokens(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Delete the tokens that can no longer be used (revoked or expired).

    A server stays in token mode once any token has existed, revoked and expired ones included, so
    revoking the last token never opens it to anyone. When purging leaves no token at all, a server on
    loopback is open to this machine again, as on its first start.

    \b
    Example: modelreg tokens revoke ci && modelreg tokens purge
    """
    names = registry(ctx).purge_tokens()
    if as_json:
        emit_json({"purged": names})
        return
    st = state(ctx)
    st.out.print(f"purged {len(names)} token(s)" + (f": {', '.join(names)}" if names else ""), soft_wrap=True)
