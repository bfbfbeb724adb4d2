"""Exports install per format: pyproject's extras are the toolchain table, and a missing package is reported
with the exact, pinned install of its format — here, and over a server as the server's to install.

Absence is simulated by adding a requirement whose module does not exist to the declared table, never by
uninstalling anything.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelreg
from modelreg.cli.errors import TOOLCHAIN_HINT
from modelreg.config import Settings
from modelreg.errors import ToolchainMissing
from modelreg.export import toolchains
from modelreg.export.failures import classify
from modelreg.export.job import FORMATS
from modelreg.export.runner import available_formats
from modelreg.export.toolchains import (
    ALL_FORMATS_EXTRA,
    TOOLCHAINS,
    TORCH,
    Requirement,
    install_hint,
    missing_packages,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")  # torch.jit.trace of the test weights
ROOT = Path(__file__).resolve().parents[1]
ABSENT = Requirement("modelreg-absent-toolchain", "modelreg_absent_toolchain_module", ">=1.0")
# pip install torch with no exact version after it: it pulls several GB of CUDA packages
UNPINNED_TORCH = re.compile(r"pip install[^;()]*\btorch\b(?!==)")


def extras() -> dict[str, list[str]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        found: dict[str, list[str]] = tomllib.load(f)["project"]["optional-dependencies"]
    return found


def modelreg_extras(requirements: list[str]) -> set[str]:
    """The extras of modelreg that a list of requirements pulls in (``modelreg[onnx,coreml]``)."""
    names: set[str] = set()
    for requirement in requirements:
        found = re.fullmatch(r"modelreg\[([\w,\s-]+)\]", requirement)
        if found:
            names |= {n.strip() for n in found.group(1).split(",")}
    return names


# ---- the table and pyproject


def test_every_format_has_an_extra_that_is_its_toolchain() -> None:
    declared = extras()
    assert set(TOOLCHAINS) == set(FORMATS)
    for fmt, requirements in TOOLCHAINS.items():
        assert sorted(declared[fmt]) == sorted(r.spec for r in requirements), f"modelreg[{fmt}] != the table"
        assert TORCH.spec in declared[fmt], f"modelreg[{fmt}] must pin torch exactly"


def test_the_export_extra_is_every_format_and_the_tests_install_it() -> None:
    declared = extras()
    assert declared[ALL_FORMATS_EXTRA] == [f"modelreg[{','.join(FORMATS)}]"]
    assert modelreg_extras(declared[ALL_FORMATS_EXTRA]) == set(TOOLCHAINS)
    assert "modelreg[export]" in declared["test"]


def test_torch_is_pinned_exactly_wherever_it_is_required() -> None:
    for name, requirements in extras().items():
        for requirement in requirements:
            if re.match(r"torch\b(?![-_\w])", requirement):
                assert requirement == TORCH.spec, f"{name}: {requirement}"
    assert TORCH.pin.startswith("==")


def test_onnx_alone_needs_no_coreml_or_litert() -> None:
    onnx = {r.distribution for r in TOOLCHAINS["onnx"]}
    assert not onnx & {"coremltools", "litert-torch", "ai-edge-litert"}
    assert {r.distribution for r in TOOLCHAINS["torchscript"]} == {"torch", "numpy"}


# ---- the probe and the hint


def test_missing_packages_follows_the_probe() -> None:
    assert missing_packages("onnx", probe=lambda module: module != "onnxruntime") == ["onnxruntime"]
    assert missing_packages("tflite", probe=lambda module: False) == ["torch", "numpy", "litert-torch",
                                                                      "ai-edge-litert"]
    assert missing_packages("torchscript", probe=lambda module: True) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_hint_is_the_formats_pinned_install(fmt: str) -> None:
    hint = install_hint(fmt)
    assert f'pip install "modelreg[{fmt}]"' in hint and TORCH.spec in hint
    assert not UNPINNED_TORCH.search(hint)
    failure = toolchains.toolchain_missing(fmt, ["torch", "onnxruntime"])
    assert failure.code == "toolchain_missing" and failure.extra == fmt
    assert failure.missing == ["torch", "onnxruntime"] and failure.install == f'pip install "modelreg[{fmt}]"'
    assert "torch and onnxruntime are not installed" in failure.message


def test_the_cli_fallback_names_every_extra_and_pins_torch() -> None:
    for name in [*FORMATS, ALL_FORMATS_EXTRA]:
        assert name in TOOLCHAIN_HINT
    assert TORCH.spec in TOOLCHAIN_HINT and not UNPINNED_TORCH.search(TOOLCHAIN_HINT)


def test_a_missing_import_inside_the_worker_names_its_distribution_and_extra() -> None:
    failure = classify(ModuleNotFoundError("No module named 'litert_torch'", name="litert_torch"), "tflite")
    assert failure.code == "toolchain_missing" and failure.missing == ["litert-torch"] and failure.extra == "tflite"
    assert failure.hint == install_hint("tflite")
    other = classify(ModuleNotFoundError("No module named 'jax'", name="jax"), "tflite", "the tflite export")
    assert other.code == "toolchain_missing" and other.missing == ["jax"] and "No module named 'jax'" in other.message
    assert other.hint == install_hint("tflite")


def test_available_formats_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TOOLCHAINS, "coreml", (*TOOLCHAINS["coreml"], ABSENT))
    reason = available_formats()["coreml"]
    assert reason is not None and ABSENT.distribution in reason and 'pip install "modelreg[coreml]"' in reason
    assert not UNPINNED_TORCH.search(reason)


# ---- as users meet it: the SDK, the CLI, the REST API and the HTTP client


def register(reg: Any, tmp_path: Path) -> Any:
    """Version cls:1 with TorchScript weights (needs torch, as every export does)."""
    pytest.importorskip("torch")
    from tests.test_export import register as register_torchscript

    return register_torchscript(reg, tmp_path)


@pytest.fixture
def absent_torchscript(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchscript exports need a package that is not installed (the table says so)."""
    monkeypatch.setitem(TOOLCHAINS, "torchscript", (*TOOLCHAINS["torchscript"], ABSENT))


def test_local_export_names_the_package_and_the_pinned_install(absent_torchscript: None, tmp_path: Path) -> None:
    reg = modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester"))
    try:
        register(reg, tmp_path)
        with pytest.raises(ToolchainMissing) as caught:
            reg.export("cls:1", "torchscript")
    finally:
        reg.close()
    error = caught.value
    assert error.message == (f"this registry cannot export to torchscript: {ABSENT.distribution} is not installed "
                             "in the Python environment it runs in")
    assert error.hint == install_hint("torchscript")
    assert error.details == {"format": "torchscript", "missing": [ABSENT.distribution], "extra": "torchscript",
                             "install": 'pip install "modelreg[torchscript]"',
                             "step": {"action": "install_toolchain", "extra": "torchscript",
                                      "install": install_hint("torchscript")}}


def test_cli_prints_the_pinned_install(absent_torchscript: None, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from modelreg.cli.errors import ExitCode
    from modelreg.cli.main import app

    for var in ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "300")
    reg = modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester"))
    try:
        register(reg, tmp_path)
    finally:
        reg.close()
    result = CliRunner().invoke(app, ["export", "cls:1", "--format", "torchscript"])
    assert result.exit_code == ExitCode.EXPORT_FAILED, result.stderr
    assert f"{ABSENT.distribution} is not installed" in result.stderr
    assert 'hint: pip install "modelreg[torchscript]"' in result.stderr and TORCH.spec in result.stderr
    assert not UNPINNED_TORCH.search(result.stderr)


def test_over_a_server_the_server_needs_the_packages(absent_torchscript: None, remote_state: Any,
                                                    remote_server: Any, tmp_path: Path) -> None:
    remote = modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester"))
    try:
        register(remote, tmp_path)
        with pytest.raises(ToolchainMissing) as caught:
            remote.export("cls:1", "torchscript")
    finally:
        remote.close()
    error = caught.value
    assert error.message == (f"the registry server at {remote_server.url} cannot export to torchscript: "
                             f"{ABSENT.distribution} is not installed where the server runs")
    assert error.hint is not None and error.hint.startswith("install modelreg[torchscript] where the server runs: ")
    assert 'pip install "modelreg[torchscript]"' in error.hint and TORCH.spec in error.hint
    assert error.details["missing"] == [ABSENT.distribution] and error.details["extra"] == "torchscript"

    reply = httpx.post(f"{remote_server.url}/api/v1/projects/default/models/cls/versions/1/exports",
                       json={"format": "torchscript"})
    assert reply.status_code == 501
    body = reply.json()["error"]
    assert body["code"] == "toolchain_missing"
    assert "this registry cannot export to torchscript" in body["message"]
    assert body["details"]["format"] == "torchscript" and body["details"]["missing"] == [ABSENT.distribution]
    assert body["details"]["extra"] == "torchscript"
    assert body["details"]["install"] == 'pip install "modelreg[torchscript]"'
    assert TORCH.spec in body["details"]["hint"] and not UNPINNED_TORCH.search(body["details"]["hint"])
    assert body["details"]["hint"].startswith("install modelreg[torchscript] where the server runs: ")
