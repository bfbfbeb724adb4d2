"""The parent side of an export (imports no torch): run the worker's steps as child processes.

``run_export(job)`` converts in one child and verifies in another, so a toolchain that crashes, hangs or
runs out of memory becomes a failed ``ExportOutcome`` and never takes the caller down:

    convert child fails or dies      status "failed", with the failure (and the child's log tail)
    verify child dies by a signal    status "failed-parity": "the runtime crashed (signal 11) while …"
    parity over its thresholds       status "failed-parity", with the reason
    runtime cannot run here          status "unverified" (Core ML off macOS), with the reason
    parity within its thresholds     status "ok"

``run_bench(job, batches, runs)`` measures an export already in ``job.out_dir`` the same way.
``available_formats()`` says which formats' toolchains are installed, without importing them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from modelreg.export.failures import clean
from modelreg.export.job import FORMATS, BenchOutcome, ExportFailure, ExportJob, ExportOutcome, Parity
from modelreg.export.limits import default_memory_limit
from modelreg.export.toolchains import TOOLCHAINS, missing_packages, toolchain_missing

resource: ModuleType | None
try:
    import resource
except ImportError:  # Windows: no resource limits; children run uncapped
    resource = None

__all__ = ["available_formats", "run_bench", "run_export", "toolchain_versions"]

log = logging.getLogger(__name__)
_T = TypeVar("_T", bound=BaseModel)

QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "ABSL_MIN_LOG_LEVEL": "3",
             "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
LOG_TAIL = 2000            # characters of a child's output kept in a failure message
MIN_VERIFY_S = 60.0        # the verification gets at least this long, whatever is left of job.timeout_s


def _missing_toolchain(fmt: str) -> ExportFailure | None:
    """The ``toolchain_missing`` failure when a package of ``fmt``'s toolchain is not importable here."""
    missing = missing_packages(fmt)
    return toolchain_missing(fmt, missing) if missing else None


def available_formats() -> dict[str, str | None]:
    """Format → None when its toolchain is importable here, else why not and what to install."""
    found: dict[str, str | None] = {}
    for fmt in FORMATS:
        failure = _missing_toolchain(fmt)
        found[fmt] = None if failure is None else f"{failure.message}: {failure.hint}"
    return found


def toolchain_versions(fmt: str, *, int8: str | None = None, half: bool = False) -> dict[str, str]:
    """The installed versions of the packages that export and run ``fmt`` (absent ones are left out)."""
    names = [r.distribution for r in TOOLCHAINS.get(fmt, ()) if r.distribution != "numpy"]  # numpy: not a toolchain
    if fmt == "tflite" and (int8 == "dynamic" or half):
        names.append("ai-edge-quantizer")
    if fmt == "tflite" and int8 == "static":
        names.append("torchao")
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@dataclass
class _Child:
    returncode: int | None      # None: timed out
    tail: str

    @property
    def signal_number(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _child_env() -> dict[str, str]:
    """This process's environment, quieter, with the import paths it added (so the child can import the
    modules a pickled model or an entry point names, as this process could)."""
    env = {**os.environ, **{k: v for k, v in QUIET_ENV.items() if k not in os.environ}}
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    added = [p for p in sys.path if p and Path(p).is_dir()
             and not any(Path(p).resolve().is_relative_to(root) for root in installed)]
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + added))
    return env


def _cwd(fallback: Path) -> Path:
    try:
        return Path.cwd()
    except FileNotFoundError:  # the caller's folder was removed: torch cannot start there
        return fallback


def _memory_limiter(limit: int | None) -> Callable[[], None] | None:
    """What the child runs before it starts: cap its data memory (RLIMIT_DATA: heap and anonymous maps,
    not the mapped libraries), so a model that inflates (a zip bomb, an absurd shape) fails with a
    MemoryError in the child instead of taking the machine's memory."""
    if resource is None:
        return None
    cap = limit if limit is not None else default_memory_limit()

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    return apply


def _run_child(args: list[str], timeout: float, work: Path, memory_limit: int | None = None) -> _Child:
    command = [sys.executable, "-m", "modelreg.export.worker", *args]
    log.debug("running %s", " ".join(command))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=_child_env(), cwd=_cwd(work), start_new_session=True,
                          preexec_fn=_memory_limiter(memory_limit)) as child:
        try:
            output, _ = child.communicate(timeout=timeout)
            returncode: int | None = child.returncode
        except subprocess.TimeoutExpired:
            _kill_group(child)
            output, _ = child.communicate()
            returncode = None
    text = clean(output.decode("utf-8", "replace"))
    return _Child(returncode=returncode, tail=text[-LOG_TAIL:].strip())


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()


def _read(path: Path, model: type[_T]) -> _T | None:
    try:
        return model.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None


def _died(child: _Child, what: str, timeout: float) -> ExportFailure:
    """Why a child left no result."""
    tail = f"\n--- log tail ---\n{child.tail}" if child.tail else ""
    if child.returncode is None:
        return ExportFailure(code="export_failed", message=f"{what} timed out after {timeout:.0f} s{tail}",
                             hint="raise the job's timeout_s, or export with smaller input_shapes")
    number = child.signal_number
    if number == signal.SIGKILL:
        return ExportFailure(code="out_of_memory", message=f"{what} was killed (signal 9: SIGKILL), most likely by "
                             f"the out-of-memory killer{tail}", hint="free memory or export on a larger machine")
    if number is not None:
        return ExportFailure(code="export_failed", message=f"{what} crashed (signal {number}: "
                             f"{_signal_name(number)}){tail}", hint="a toolchain bug: try other options or versions")
    return ExportFailure(code="export_failed", message=f"{what} exited with status {child.returncode} and no "
                         f"result{tail}", hint="the log tail says why")


def run_export(job: ExportJob, stage: Callable[[str], None] = lambda _: None) -> ExportOutcome:
    """Convert ``job`` into ``job.out_dir`` and verify it, each in a child process; never raises for a
    failed export (the outcome says what happened). ``stage`` is told which of the two is running."""
    toolchain = toolchain_versions(job.format, int8=job.options.int8, half=job.options.half)
    missing = _missing_toolchain(job.format)
    if missing is not None:
        return ExportOutcome(status="failed", toolchain=toolchain, error=missing)
    deadline = time.monotonic() + job.timeout_s
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="modelreg-export-"))
    try:
        job_file, reference = work / "job.json", work / "reference.npz"
        job_file.write_text(job.model_dump_json())
        result = work / "convert.json"
        stage(f"loading the weights and converting them to {job.format}")
        child = _run_child(["convert", str(job_file), str(result), "--reference", str(reference)], job.timeout_s,
                           work, job.memory_limit_bytes)
        converted = _read(result, ExportOutcome) if child.returncode == 0 else None
        if converted is None:
            return ExportOutcome(status="failed", toolchain=toolchain,
                                 error=_died(child, f"the {job.format} converter", job.timeout_s))
        toolchain |= converted.toolchain
        converted = converted.model_copy(update={"toolchain": toolchain})
        if converted.status == "failed":
            return converted
        stage(f"checking the {job.format} file against the original (parity)")
        parity = _verify(job, job_file, reference, work, max(MIN_VERIFY_S, deadline - time.monotonic()))
        status = {"passed": "ok", "failed": "failed-parity", "unverified": "unverified"}[parity.status]
        return converted.model_copy(update={"status": status, "parity": parity})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify(job: ExportJob, job_file: Path, reference: Path, work: Path, timeout: float) -> Parity:
    result = work / "verify.json"
    child = _run_child(["verify", str(job_file), str(result), "--reference", str(reference)], timeout, work,
                       job.memory_limit_bytes)
    parity = _read(result, Parity) if child.returncode == 0 else None
    if parity is not None:
        return parity
    if child.returncode is None:
        reason = f"the runtime did not finish running the exported model within {timeout:.0f} s"
    elif child.signal_number is not None:
        reason = f"the runtime crashed (signal {child.signal_number}) while running the exported model"
    else:
        reason = f"the verification exited with status {child.returncode}: {child.tail[-400:]}"
    log.warning("verifying the %s export failed: %s\n%s", job.format, reason, child.tail)
    return Parity(status="failed", reason=reason)


def run_bench(job: ExportJob, batches: list[int], runs: int) -> BenchOutcome:
    """Latency (p50/p90, throughput) of the export in ``job.out_dir`` in its runtime and of PyTorch eager,
    per batch size, in a child process."""
    missing = _missing_toolchain(job.format)
    if missing is not None:
        return BenchOutcome(error=missing)
    work = Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    try:
        job_file, result = work / "job.json", work / "bench.json"
        job_file.write_text(job.model_dump_json())
        args = ["bench", str(job_file), str(result), "--batch", ",".join(str(b) for b in batches),
                "--runs", str(runs)]
        child = _run_child(args, job.timeout_s, work, job.memory_limit_bytes)
        outcome = _read(result, BenchOutcome) if child.returncode == 0 else None
        return outcome if outcome is not None else BenchOutcome(error=_died(child, "the benchmark", job.timeout_s))
    finally:
        shutil.rmtree(work, ignore_errors=True)
