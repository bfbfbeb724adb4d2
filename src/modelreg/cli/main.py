"""The ``modelreg`` command: the root app, global options, and the one place errors become exit codes.

Settings are built here, at the edge: ``Settings.from_env(os.environ)``, with ``--home`` on top.
Every command group lives in its own module and is added below; errors are turned into one red
line, a hint and an exit code by ``cli.errors`` (its docstring holds the table of exit codes).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from modelreg import __version__
from modelreg.cli import aliases, exports, insights, maintenance, models, projects, server, transfer, versions
from modelreg.cli.common import SERVER_VARS, Opener, State, env_flag, make_console
from modelreg.cli.errors import ExitCode, report
from modelreg.config import TOKEN_ENV, URL_ENV, Settings


class RegistryGroup(TyperGroup):
    """The root group: runs the command and turns any error into a message and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors, --help, explicit exits: Typer reports them (usage errors exit 2)
        except KeyboardInterrupt:
            _stderr(ctx).print("interrupted", style="red")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:  # `modelreg versions m | head -1`: the reader left; that is fine
            _silence_stdout()
            raise typer.Exit(ExitCode.OK) from None
        except Exception as exc:
            st = ctx.find_object(State)
            debug = st.debug if st is not None else env_flag(os.environ, "MODELREG_DEBUG")
            code = report(exc, _stderr(ctx), debug=debug)
            raise typer.Exit(code) from None


def _stderr(ctx: typer.Context) -> Any:
    st = ctx.find_object(State)
    return st.err if st is not None else make_console(stderr=True, environ=os.environ)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass


app = typer.Typer(
    name="modelreg",
    cls=RegistryGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"modelreg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", envvar=None, help="The registry folder (overrides MODELREG_HOME; default ~/.modelreg).",
        file_okay=False)] = None,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks and debug logs (also MODELREG_DEBUG=1).")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """modelreg: a self-hosted model registry for teams that train their own models.

    Register versions with their metrics, see which one is in production (✓), compare them, activate,
    promote, roll back, and pull or resolve the files. Without MODELREG_URL everything runs on the
    embedded registry in $MODELREG_HOME (SQLite + local files); with it (and MODELREG_TOKEN), on that
    server (modelreg serve).

    \b
    Example: modelreg register fire-detector runs/train/weights -m map50=0.91 --training-time 2.15h
    """
    environ = os.environ
    opener = ctx.obj if isinstance(ctx.obj, Opener) else Opener()
    settings = Settings.from_env(environ)
    if home is not None:
        settings = settings.with_overrides(home=home.expanduser())
    debug = debug or env_flag(environ, "MODELREG_DEBUG")
    server_vars = tuple(v for v in SERVER_VARS if environ.get(v, "").strip())
    st = State(settings=settings, out=make_console(stderr=False, environ=environ),
               err=make_console(stderr=True, environ=environ), debug=debug, server_vars=server_vars, opener=opener,
               server_url=environ.get(URL_ENV, "").strip() or None,
               server_token=environ.get(TOKEN_ENV, "").strip() or None)
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = st
    ctx.call_on_close(st.close)


app.add_typer(projects.app, name="projects")
app.add_typer(models.app, name="models")
app.add_typer(versions.app)
app.add_typer(aliases.app)
app.add_typer(aliases.alias_app, name="alias")
app.add_typer(insights.app)
app.add_typer(transfer.app)
app.add_typer(exports.app)
app.add_typer(maintenance.app)
app.add_typer(server.app)
app.add_typer(server.tokens_app, name="tokens")


def run() -> None:
    """The console script ``modelreg``."""
    app(prog_name="modelreg")
