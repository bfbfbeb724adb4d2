"""The ``modelreg`` command: the root app, global options, and the one place errors become exit codes.

Settings are built here, at the edge: ``Settings.from_env(os.environ)``, with ``--home`` on top.
Every command group lives in its own module, listed in ``GROUPS``; errors are turned into one red
line, a hint and an exit code by ``cli.errors`` (its docstring holds the table of exit codes).

A run imports only the module of the command it runs (``modelreg versions m`` never loads the server, the
exports or the other groups), so a read command answers quickly; ``--help``, the reference and the tests,
which list every command, load them all, in the order of ``GROUPS``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import logging
import os
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
import typer.main
from typer.core import TyperGroup

from modelreg import __version__
from modelreg.cli.common import SERVER_VARS, Opener, State, env_flag, make_console
from modelreg.config import TOKEN_ENV, URL_ENV, Settings


class Group(NamedTuple):
    """A command group: its module (under ``modelreg.cli``), its Typer, the name it is added under (None: its
    commands join the top level) and the top-level commands it provides (where to look, not what there is)."""

    module: str
    attr: str
    name: str | None
    provides: tuple[str, ...]


# The order --help lists them in. ``provides`` only says which module to import for a command: a command
# missing from it still runs (every module is loaded to find it), just not as quickly; a test keeps it exact.
GROUPS: tuple[Group, ...] = (
    Group("projects", "app", "projects", ("projects",)),
    Group("models", "app", "models", ("models",)),
    Group("versions", "app", None, ("register", "versions", "search", "info", "update", "tag", "notes", "pin",
                                    "unpin", "archive", "unarchive", "mark-best", "best", "delete")),
    Group("aliases", "app", None, ("activate", "rollback", "promote")),
    Group("aliases", "alias_app", "alias", ("alias",)),
    Group("insights", "app", None, ("compare", "history", "lineage", "report")),
    Group("evaluations", "app", None, ("evaluate", "evaluations")),
    Group("inferences", "app", None, ("inferences", "inference", "log-inferences", "inference-stats")),
    Group("inferences", "feedback_app", "feedback", ("feedback",)),
    Group("transfer", "app", None, ("pull", "resolve", "import")),
    Group("experiments", "app", "experiment", ("experiment",)),
    Group("exports", "app", None, ("export", "exports", "job", "jobs", "bench")),
    Group("maintenance", "app", None, ("gc", "fsck", "events")),
    Group("sync", "app", None, ("sync",)),
    Group("server", "app", None, ("serve",)),
    Group("server", "tokens_app", "tokens", ("tokens",)),
)
_PROVIDER = {command: group for group in GROUPS for command in group.provides}


def _typer_of(group: Group) -> typer.Typer:
    sub = getattr(importlib.import_module(f"modelreg.cli.{group.module}"), group.attr)
    assert isinstance(sub, typer.Typer), group
    return sub


def build_group(group: Group) -> dict[str, Any]:
    """Every click command ``group`` adds to the root, by name, as ``app.add_typer`` would add them."""
    holder = typer.Typer(add_completion=False, rich_markup_mode=app.rich_markup_mode,
                         pretty_exceptions_short=app.pretty_exceptions_short)
    holder.add_typer(_typer_of(group), name=group.name)
    built = typer.main.get_command(holder)
    assert isinstance(built, TyperGroup), group
    return dict(built.commands)


def _build_one(group: Group, name: str) -> Any | None:
    """The one command ``name`` of a group whose commands join the top level, without building the others."""
    for info in _typer_of(group).registered_commands:
        if info.callback is not None and (info.name or typer.main.get_command_name(info.callback.__name__)) == name:
            return typer.main.get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                                    rich_markup_mode=app.rich_markup_mode)
    return None


class RegistryGroup(TyperGroup):
    """The root group: runs the command and turns any error into a message and an exit code.

    Its commands are built on first use: running one imports only its module; listing them (``commands``,
    ``list_commands``: --help, shell completion, the reference) builds them all.
    """

    _loaded: dict[str, Any]
    _complete: bool = False

    @property
    def commands(self) -> MutableMapping[str, Any]:
        if not self._complete:
            ordered: dict[str, Any] = {}
            for group in GROUPS:
                for name, command in build_group(group).items():
                    ordered[name] = self._loaded.get(name, command)
            self._loaded = {**ordered, **self._loaded}
            self._complete = True
        return self._loaded

    @commands.setter
    def commands(self, value: MutableMapping[str, Any]) -> None:
        self._loaded = dict(value)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:  # type: ignore[override]
        found = super().resolve_command(ctx, args)
        _end_start_up()  # the command's module is loaded
        return found

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any | None:  # type: ignore[override]
        if cmd_name not in self._loaded and not self._complete:
            group = _PROVIDER.get(cmd_name)
            found = None
            if group is not None:
                found = build_group(group).get(cmd_name) if group.name else _build_one(group, cmd_name)
            if found is None:
                return self.commands.get(cmd_name)  # not where GROUPS says: build them all to find it
            self._loaded[cmd_name] = found
        return self._loaded.get(cmd_name)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors, --help, explicit exits: Typer reports them (usage errors exit 2)
        except KeyboardInterrupt:
            from modelreg.cli.errors import ExitCode

            _stderr(ctx).print("interrupted", style="red")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:  # `modelreg versions m | head -1`: the reader left; that is fine
            from modelreg.cli.errors import ExitCode

            _silence_stdout()
            raise typer.Exit(ExitCode.OK) from None
        except Exception as exc:
            from modelreg.cli.errors import report  # loaded with the command's module (the error table is large)

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


# Start-up allocates tens of thousands of long-lived objects (modules, classes, the commands) and no garbage,
# yet the cyclic collector walks them again and again, and once more over everything at exit. So the console
# script pauses it until the command's module is loaded, then freezes what start-up built out of its sight
# (gc.freeze) and resumes it for the command's own work; at exit it freezes everything, sparing the final
# walk (tens of milliseconds). Objects are still freed by reference counting as usual. run() is for the
# console script, which exits right after it.
_gc_paused = False


def _end_start_up() -> None:
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


def run() -> None:
    """The console script ``modelreg``."""
    global _gc_paused
    # pydantic looks for plugins (observability hooks) in every installed distribution's entry points the
    # first time it builds a validator: ~5 ms a command on a machine with 200 packages. The CLI uses none;
    # PYDANTIC_DISABLE_PLUGINS set to anything (empty: look for them) is left as it is.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if gc.isenabled():
        gc.disable()
        _gc_paused = True
    try:
        app(prog_name="modelreg")
    except SystemExit as done:
        _exit_now(done.code)
        raise
    finally:
        _end_start_up()
        gc.freeze()


def _exit_now(code: object) -> None:
    """Ends the process at once with ``code`` when nothing is left to finish: the interpreter's own teardown
    (freeing every module of SQLAlchemy, pydantic and the rest one by one) takes about 10 ms a command
    otherwise. Only when the main thread is the last one, the exit code is a number and the output flushes;
    the ``atexit`` functions (logging's flush among them) still run. Otherwise returns, for the usual exit."""
    if not (code is None or isinstance(code, int)) or threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # a closed pipe: the usual exit reports it as Python always does
    atexit._run_exitfuncs()  # what the interpreter's own exit would run
    with contextlib.suppress(OSError, ValueError):  # what they printed
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code or 0)
