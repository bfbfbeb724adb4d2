"""What every command group shares: the invocation's state, option types and argument parsers."""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from modelreg.config import TOKEN_ENV, URL_ENV, Settings
from modelreg.errors import InvalidInput, InvalidMetadata

# cli.errors (the table of errors and hints) and the service are imported where they are used: they load with
# the command's module, not with the root app (see cli.main.run).
if TYPE_CHECKING:
    from modelreg.registry import Registry
    from modelreg.service import Service

SERVER_VARS = (URL_ENV, TOKEN_ENV)


def _connect(settings: Settings) -> Registry:
    from modelreg.client import connect

    return connect(settings=settings)


@dataclass(frozen=True)
class Opener:
    """How the CLI opens the registry. Tests pass their own as ``obj=`` to share one registry."""

    open: Callable[[Settings], Registry] = _connect
    close: bool = True


def int8_choice(value: str | None) -> str | None:
    """``--int8``'s value, checked: ``dynamic``, ``static``, or not given."""
    if value is not None and value not in ("dynamic", "static"):
        from modelreg.cli.errors import CliError, ExitCode

        raise CliError(f"--int8 takes dynamic or static, not {value!r}", exit_code=ExitCode.INVALID_INPUT)
    return value


def make_console(*, stderr: bool, environ: Mapping[str, str]) -> Console:
    # emoji=False: ":fire:" in a note or a name is printed as typed, and rich's emoji table (12 ms) never loads
    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:  # piped or captured: no wrapping at 80 columns
        try:
            console.width = max(40, int(environ.get("COLUMNS", "") or 160))
        except ValueError:
            console.width = 160
    return console


@dataclass
class State:
    """One invocation: settings built at the edge, the consoles, and the registry opened on first use."""

    settings: Settings
    out: Console
    err: Console
    debug: bool = False
    server_vars: tuple[str, ...] = ()  # which of MODELREG_URL / MODELREG_TOKEN are set
    opener: Opener = field(default_factory=Opener)
    server_url: str | None = None  # MODELREG_URL: use that server instead of the embedded registry
    server_token: str | None = None  # MODELREG_TOKEN
    _registry: Registry | None = None

    def registry(self) -> Registry:
        from modelreg.cli.errors import CliError, ExitCode

        if self._registry is None:
            if self.server_url:
                from modelreg.client.http import HttpRegistry

                self._registry = HttpRegistry(self.server_url, token=self.server_token, settings=self.settings)
            elif self.server_vars:
                raise CliError("MODELREG_TOKEN is set but MODELREG_URL is not",
                               hint="set MODELREG_URL=http://host:8080 to use a server, or unset MODELREG_TOKEN to "
                                    f"use the embedded registry at {self.settings.home}", exit_code=ExitCode.USAGE)
            else:
                self._registry = self.opener.open(self.settings)
        return self._registry

    def embedded(self) -> Service:
        """The embedded registry even when MODELREG_URL is set (``serve`` runs on it)."""
        from modelreg.cli.errors import CliError, ExitCode
        from modelreg.service import Service

        registry = self.opener.open(self.settings)
        if not isinstance(registry, Service):
            raise CliError("the embedded registry is needed here, but the CLI was given a server",
                           exit_code=ExitCode.USAGE)
        return registry

    def close(self) -> None:
        if self._registry is not None and self.opener.close:
            self._registry.close()
        self._registry = None

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty()

    def progress_enabled(self, as_json: bool) -> bool:
        """Progress bars go to stderr, and only to a terminal: never in --json mode or into a log file."""
        return not as_json and self.err.is_terminal


def state(ctx: typer.Context) -> State:
    from modelreg.cli.errors import CliError, ExitCode

    found = ctx.find_object(State)
    if found is None:  # a command invoked without the root callback (never from the console script)
        raise CliError("the modelreg CLI was started without its root command", exit_code=ExitCode.UNEXPECTED)
    return found


def registry(ctx: typer.Context) -> Registry:
    return state(ctx).registry()


# ---- option types shared by the command groups
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (machine-readable) and nothing else on stdout.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]
RefArg = Annotated[str, typer.Argument(
    metavar="REF", help="A version: model:3, model:v3, model:latest, model:best, model@alias, project/model:3. "
                        "A bare model name follows MODEL_ENVIRONMENT (default production).")]
VersionRefArg = Annotated[str, typer.Argument(metavar="REF", help="A version: model:3, model@alias, project/model:3.")]
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help="A model: name or project/name.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Show at most this many.")]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="Continue after a previous page (its next_cursor).")]


# ---- parsing values given on the command line
def split_pair(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise InvalidInput(f"{option} expects KEY=VALUE, got {item!r}", hint=f"e.g. {option} map50=0.91")
    return key.strip(), value


def parse_metrics(items: Sequence[str] | None, option: str = "-m") -> dict[str, float]:
    """``-m map50=0.91 -m val_loss=1.2`` -> {"map50": 0.91, ...}; NaN/inf pass through to be refused by the SDK."""
    out: dict[str, float] = {}
    for item in items or []:
        key, raw = split_pair(item, option)
        try:
            out[key] = float(raw)
        except ValueError:
            raise InvalidMetadata(f"metric {key} is {raw!r}; metrics are numbers",
                                  hint="put text under --tag or --param instead", field=f"metrics.{key}") from None
    return out


def parse_value(raw: str) -> Any:
    """A parameter value: JSON when it reads as JSON (100, 0.01, true, [1,2]), text otherwise."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    return {key: parse_value(raw) for key, raw in (split_pair(i, "--param") for i in items or [])}


def parse_tags(items: Sequence[str] | None) -> dict[str, str]:
    return dict(split_pair(i, "--tag") for i in items or [])


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hr|hours?|m|min|minutes?|s|sec|seconds?)?\s*$", re.I)


def parse_duration(text: str | None) -> float | None:
    """``2.15h``, ``90m``, ``3600s`` or plain seconds -> seconds."""
    if text is None:
        return None
    m = _DURATION_RE.match(text)
    if not m:
        raise InvalidInput(f"training time {text!r} is not a duration", hint="e.g. 2.15h, 90m or 3600s")
    value, unit = float(m.group(1)), (m.group(2) or "s").lower()
    factor = 3600.0 if unit.startswith("h") else 60.0 if unit.startswith("m") else 1.0
    seconds = value * factor
    if not math.isfinite(seconds):
        raise InvalidInput(f"training time {text!r} is not a finite duration")
    return seconds


def read_json_file(path: Path) -> Any:
    """JSON from a file (an object or a list); InvalidMetadata names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMetadata(f"{path} is not UTF-8 text", hint="save it as UTF-8 JSON", path=str(path)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMetadata(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              hint="fix the file (python -m json.tool shows where)", path=str(path)) from exc


def read_metrics_file(path: Path) -> dict[str, float]:
    """A JSON object of metrics; nested objects are flattened with '.', other values refused."""
    from modelreg.local.metadata_files import flatten_metrics

    data = read_json_file(path)
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{path} holds a JSON list; metrics are an object of name -> number",
                              hint='e.g. {"map50": 0.91, "precision": 0.9}', path=str(path))
    if isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    numbers, rest = flatten_metrics(data)
    if rest:
        name = next(iter(rest))
        raise InvalidMetadata(f"{path}: metric {name} is {rest[name]!r}; metrics are numbers",
                              hint="put text under --tag or --param instead", path=str(path))
    return numbers


def read_json_object(path: Path, option: str) -> dict[str, Any]:
    """A JSON file that must hold one object (a dataset reference, …)."""
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{path} ({option}) holds a JSON {type(data).__name__}, not an object",
                              hint='e.g. {"name": "fire-corrections", "digest": "sha256:…"}', path=str(path))
    return data


def read_class_metrics_file(path: Path) -> list[dict[str, Any]]:
    """A JSON list of per-class rows, or an object holding one under ``class_metrics``."""
    data = read_json_file(path)
    if isinstance(data, dict):
        data = data.get("class_metrics", data.get("training_classes"))
    if not isinstance(data, list):
        raise InvalidMetadata(f"{path} holds no list of per-class rows",
                              hint='e.g. [{"class_name": "fire", "ap": 0.91}, ...]', path=str(path))
    return data


def read_history_file(path: Path) -> list[dict[str, Any]]:
    """Per-epoch rows from a JSON list or a CSV with an ``epoch`` column (Ultralytics' results.csv)."""
    if path.suffix.lower() == ".csv":
        rows: list[dict[str, Any]] = []
        with path.open(newline="", encoding="utf-8") as f:
            for i, raw in enumerate(csv.DictReader(f)):
                row: dict[str, Any] = {}
                for key, value in raw.items():
                    if key is None or value is None:
                        continue
                    name = key.strip()
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    if name == "epoch":
                        row["epoch"] = int(number)
                    elif name:
                        row[name] = number
                row.setdefault("epoch", i + 1)
                rows.append(row)
        return rows
    data = read_json_file(path)
    if isinstance(data, dict):
        data = data.get("epochs", data.get("history"))
    if not isinstance(data, list):
        raise InvalidMetadata(f"{path} holds no list of epochs",
                              hint='e.g. [{"epoch": 1, "train_loss": 1.2, "map50": 0.4}, ...]', path=str(path))
    return data


def confirm(st: State, action: str, *, yes: bool, refuse_hint: str, warning: str = "") -> None:
    """Ask before ``action`` ("delete fire-detector:v3"); without a terminal, refuse unless ``--yes``."""
    from modelreg.cli.errors import CliError, ExitCode

    if yes:
        return
    if not st.interactive:
        raise CliError(f"refusing to {action} without confirmation (stdin is not a terminal)",
                       hint=refuse_hint, exit_code=ExitCode.USAGE)
    question = f"{action[0].upper()}{action[1:]}?" + (f" {warning}" if warning else "")
    if not typer.confirm(question, default=False, err=True):
        raise CliError("cancelled; nothing was changed", exit_code=ExitCode.UNEXPECTED)


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
