"""How the CLI reports errors: the one table of exit codes and hints.

Every error ends as one red line ``error: <message>`` and, when there is a next step, one line
``hint: <next step>`` on stderr; the traceback is shown only with ``--debug`` (or ``MODELREG_DEBUG=1``).
The exit code tells scripts which family the error belongs to:

| exit | family        | raised for                                                                    |
|------|---------------|-------------------------------------------------------------------------------|
| 0    | success       |                                                                               |
| 1    | unexpected    | anything not listed below (a bug: rerun with --debug and report it);          |
|      |               | a confirmation the user declined                                              |
| 2    | usage         | bad options or arguments; a feature that is not available yet;               |
|      |               | ``serve`` refusing an open bind without tokens; MODELREG_TOKEN without        |
|      |               | MODELREG_URL; a confirmation needed without a terminal                        |
| 3    | not found     | ``NotFound`` and its subclasses (project, model, version, alias, file, blob)   |
| 4    | conflict      | ``Conflict``: already exists, version in use, invalid state, nothing to roll   |
|      |               | back, promotion gate failed                                                   |
| 5    | invalid input | ``InvalidInput``: names, references, artifact paths, metadata, filters;        |
|      |               | an import that could not read some folders                                    |
| 6    | permission    | ``PermissionDenied``, ``Unauthenticated``, a file the OS will not let us read  |
| 7    | integrity     | ``IntegrityError`` (content does not match its digest); ``fsck`` found problems |
| 8    | storage       | ``StorageError``; a file that could not be read or written                     |
| 9    | export failed | ``ExportFailed``: an operator the exporter cannot convert, out of memory, a    |
|      |               | toolchain that is not installed, Core ML run off macOS (nothing was stored)  |
| 130  | interrupted   | Ctrl-C                                                                        |

The hint printed is the error's own (the service writes specific ones, naming the alias or the
command to run) or, when it has none, the fallback in ``HINTS`` below.
"""

from __future__ import annotations

import traceback
from enum import IntEnum

from rich.console import Console
from rich.text import Text

from modelreg.cli.steps import CLI_WORDS
from modelreg.errors import (
    AliasNotFound,
    AlreadyExists,
    ArtifactNotFound,
    BlobNotFound,
    Conflict,
    ExportFailed,
    ExportOutOfMemory,
    GateFailed,
    InferenceNotFound,
    IntegrityError,
    InvalidArtifactPath,
    InvalidFilter,
    InvalidInput,
    InvalidMetadata,
    InvalidName,
    InvalidReference,
    InvalidState,
    ModelNotFound,
    ModelregError,
    NotFound,
    NothingToRollBack,
    NoWeights,
    PermissionDenied,
    PlatformUnsupported,
    ProjectNotFound,
    StorageError,
    ToolchainMissing,
    Unauthenticated,
    UnsupportedOperator,
    UntrustedSource,
    VersionInUse,
    VersionNotFound,
)
from modelreg.export.toolchains import ALL_FORMATS_EXTRA, TOOLCHAINS, TORCH
from modelreg.steps import hint_for


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    INVALID_INPUT = 5
    PERMISSION = 6
    INTEGRITY = 7
    STORAGE = 8
    EXPORT_FAILED = 9
    INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI itself raises (not the registry): a message, a next step and an exit code."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


def not_available(what: str, *, hint: str | None = None, release: str = "the server release") -> CliError:
    """A feature of the design that arrives with a later release: say so, exit 2, pretend nothing."""
    return CliError(f"{what} arrives with {release}; it is not available yet",
                    hint=hint or "the modelreg CLI and the Python SDK (modelreg.connect()) work on the "
                                 "embedded registry ($MODELREG_HOME, default ~/.modelreg) now",
                    exit_code=ExitCode.USAGE)


# A toolchain_missing error names its format's install command; this is for one that does not.
TOOLCHAIN_HINT = (f'install the format\'s toolchain: pip install "modelreg[FORMAT]" (FORMAT: {", ".join(TOOLCHAINS)}; '
                  f'"modelreg[{ALL_FORMATS_EXTRA}]" for all), which pins {TORCH.spec}')

# The one table: error class -> (exit code, hint when the error carries none). Looked up along the MRO,
# so a subclass without its own row gets its parent's family.
HINTS: dict[type[BaseException], tuple[ExitCode, str | None]] = {
    ModelregError: (ExitCode.UNEXPECTED, "rerun with --debug to see where it happened"),
    NotFound: (ExitCode.NOT_FOUND, None),
    ProjectNotFound: (ExitCode.NOT_FOUND, "list projects: modelreg projects list"),
    ModelNotFound: (ExitCode.NOT_FOUND, "list models: modelreg models list"),
    VersionNotFound: (ExitCode.NOT_FOUND, "list versions: modelreg versions MODEL"),
    AliasNotFound: (ExitCode.NOT_FOUND, "list aliases: modelreg alias list MODEL"),
    ArtifactNotFound: (ExitCode.NOT_FOUND, "list the version's files: modelreg info REF"),
    BlobNotFound: (ExitCode.NOT_FOUND, "check the store: modelreg fsck"),
    InferenceNotFound: (ExitCode.NOT_FOUND, "list records: modelreg inferences MODEL"),
    Conflict: (ExitCode.CONFLICT, None),
    AlreadyExists: (ExitCode.CONFLICT, "pick another name, or use the existing one"),
    VersionInUse: (ExitCode.CONFLICT, "move its aliases (modelreg activate, modelreg alias rm) or unpin it first"),
    InvalidState: (ExitCode.CONFLICT, "pick a ready version"),
    NothingToRollBack: (ExitCode.CONFLICT, "set the alias explicitly: modelreg alias set MODEL:VERSION ALIAS"),
    GateFailed: (ExitCode.CONFLICT, "improve the candidate, or pass --force (the force is recorded)"),
    InvalidInput: (ExitCode.INVALID_INPUT, None),
    InvalidName: (ExitCode.INVALID_INPUT, "use letters, digits, '.', '_' or '-', starting with a letter or digit"),
    InvalidReference: (ExitCode.INVALID_INPUT,
                       "use model, model:3, model:v3, model:latest, model:best or model@alias, "
                       "optionally project/model"),
    InvalidArtifactPath: (ExitCode.INVALID_INPUT, "artifact paths are relative, like weights/best.pt"),
    InvalidMetadata: (ExitCode.INVALID_INPUT, None),
    InvalidFilter: (ExitCode.INVALID_INPUT, "example: --filter 'metrics.map50 >= 0.8 and not pinned'"),
    NoWeights: (ExitCode.INVALID_INPUT, "name the weights file: modelreg export REF --source weights/best.pt"),
    UntrustedSource: (ExitCode.INVALID_INPUT, "pass --trusted if you registered these weights yourself"),
    ExportFailed: (ExitCode.EXPORT_FAILED, "rerun with --debug for the exporter's output"),
    UnsupportedOperator: (ExitCode.EXPORT_FAILED, "try another format or opset, or replace the operator in the model"),
    PlatformUnsupported: (ExitCode.EXPORT_FAILED, "run it on the platform the format targets"),
    ExportOutOfMemory: (ExitCode.EXPORT_FAILED, "export with a smaller --shape or batch, or on a bigger machine"),
    ToolchainMissing: (ExitCode.EXPORT_FAILED, TOOLCHAIN_HINT),
    PermissionDenied: (ExitCode.PERMISSION, "ask an admin for a role that allows it"),
    Unauthenticated: (ExitCode.PERMISSION, "check MODELREG_TOKEN"),
    IntegrityError: (ExitCode.INTEGRITY, "run modelreg fsck to find every damaged file"),
    StorageError: (ExitCode.STORAGE, "check that the disk or the database is reachable and writable"),
    PermissionError: (ExitCode.PERMISSION, "check the file's permissions"),
    FileNotFoundError: (ExitCode.NOT_FOUND, "check the path"),
    OSError: (ExitCode.STORAGE, "check the path, the free disk space and the permissions"),
    Exception: (ExitCode.UNEXPECTED, "this is a bug in modelreg: rerun with --debug and report the traceback"),
}


def classify(exc: BaseException) -> tuple[ExitCode, str, str | None]:
    """The exit code, the one-line message and the hint for an exception."""
    if isinstance(exc, CliError):
        return exc.exit_code, exc.message, exc.hint
    code, fallback = ExitCode.UNEXPECTED, HINTS[Exception][1]
    for cls in type(exc).__mro__:
        if cls in HINTS:
            code, fallback = HINTS[cls]
            break
    if isinstance(exc, ModelregError):
        return code, exc.message, hint_for(exc.details, CLI_WORDS, exc.hint) or fallback
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return code, f"{exc.strerror}{where}", fallback
    text = str(exc) or type(exc).__name__
    if code is ExitCode.UNEXPECTED:
        text = f"unexpected {type(exc).__name__}: {text}"
    return code, text, fallback


def one_line(text: str) -> str:
    return " ".join(text.split())


def report(exc: BaseException, console: Console, *, debug: bool) -> ExitCode:
    """Print the error (and with ``debug`` its traceback) to ``console`` (stderr); return the exit code."""
    code, message, hint = classify(exc)
    if debug:
        console.file.write("".join(traceback.format_exception(exc)))
        console.file.flush()
    console.print(Text.assemble(("error: ", "bold red"), (one_line(message), "red")), soft_wrap=True)
    if hint:
        console.print(Text.assemble(("hint: ", "bold"), one_line(hint)), soft_wrap=True)
    return code
