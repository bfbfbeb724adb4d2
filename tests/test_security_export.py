"""A zip bomb as weights, absurd input shapes, and a child over its memory limit (review finding 5).

The bomb is a real torch-style zip whose ``archive/data.pkl`` is a pickle of a 256 MiB string (it deflates
to well under a MiB): telling its kind reads a bounded prefix, so the server's memory stays flat; an
export of it without ``trusted`` is refused; with ``trusted`` the child that unpickles it runs into its
memory limit and the export fails as out of memory, storing nothing.
"""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelreg
from modelreg.config import Settings
from modelreg.export.detect import detect_source_kind
from modelreg.export.limits import DETECT_BYTES, MAX_BATCH, MAX_DIM, check_input_shapes
from test_server import assert_error, upload

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
INFLATED = 256 * 1024 * 1024


def zip_bomb(path: Path, inflated: int = INFLATED) -> Path:
    """A torch zip whose data.pkl is ``PROTO 4, BINUNICODE8 <inflated bytes of 'a'>, STOP``: a valid pickle
    of one huge string, written in chunks so the test itself stays small in memory."""
    chunk = b"a" * (4 * 1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/version", "3\n")
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            member.write(b"\x80\x04\x8d" + struct.pack("<Q", inflated))
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
            member.write(b"\x94.")
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "best.pt")


def test_the_bomb_is_small_on_disk_and_detection_reads_a_bounded_prefix(bomb: Path) -> None:
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("archive/data.pkl").file_size > INFLATED
    tracemalloc.start()
    try:
        kind = detect_source_kind(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kind == "pickled_module"  # too long to look through: loading it needs trusted
    assert peak < 8 * DETECT_BYTES < INFLATED // 4, f"detection allocated {peak:,} bytes"  # bounded: not the 256 MiB


def test_a_complete_small_state_dict_is_still_told_apart(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "sd.pt"
    torch.save({"w": torch.zeros(3)}, path)
    assert detect_source_kind(path) == "state_dict"


@pytest.fixture
def served_bomb(backend_api: httpx.Client, bomb: Path) -> str:
    data = bomb.read_bytes()
    digest = upload(backend_api, data)
    body = {"model": "det", "artifacts": [{"path": "weights/best.pt", "digest": digest, "size": len(data)}],
            "signature": {"inputs": [{"name": "images", "dtype": "float32", "shape": [1, 3, 32, 32]}]}}
    assert backend_api.post("/versions", json=body).status_code == 201
    return "/projects/default/models/det/versions/1/exports"


def test_exporting_the_bomb_without_trust_is_refused(backend_api: httpx.Client, served_bomb: str) -> None:
    error = assert_error(backend_api.post(served_bomb, json={"format": "onnx"}), 422, "untrusted_source")
    assert "trusted" in error["message"] + error["details"].get("hint", "")
    assert backend_api.get(served_bomb).json() == []


def test_a_trusted_bomb_meets_the_childs_memory_limit(tmp_path: Path, bomb: Path) -> None:
    settings = Settings(home=tmp_path / "home", actor="tester", export_memory_limit=384 * 1024 * 1024)
    with modelreg.connect(settings=settings) as reg:
        reg.register_version("det", files={"weights/best.pt": bomb},
                             signature={"inputs": [{"name": "images", "dtype": "float32", "shape": [1, 3, 8, 8]}]})
        with pytest.raises(modelreg.ExportOutOfMemory) as err:
            reg.export("det:1", "torchscript", trusted=True)
        assert err.value.http_status == 507
        assert reg.list_exports("det:1") == []


@pytest.mark.parametrize(("options", "named"), [
    ({"input_shapes": [[1, 3, 100_000, 100_000]]}, str(MAX_DIM)),
    ({"input_shapes": [[MAX_BATCH + 1, 3, 32, 32]]}, str(MAX_BATCH)),
    ({"input_shapes": [[1, 3, 9000, 9000]]}, "values per sample"),
])
def test_absurd_input_shapes_are_refused_before_any_work(backend_api: httpx.Client, served_bomb: str,
                                                         options: dict[str, Any], named: str) -> None:
    response = backend_api.post(served_bomb, json={"format": "onnx", "trusted": True, "options": options})
    error = assert_error(response, 422, "invalid_input")
    assert named in error["message"] and error["details"]["field"] == "input_shapes"
    assert backend_api.get(served_bomb).json() == []


def test_an_absurd_imgsz_from_params_is_refused_too(tmp_path: Path, bomb: Path) -> None:
    with modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester")) as reg:
        reg.register_version("det", files={"weights/best.pt": bomb}, params={"imgsz": 50_000})
        with pytest.raises(modelreg.InvalidInput) as err:
            reg.export("det:1", "onnx", trusted=True)
        assert "50000" in str(err.value)


def test_shape_limits_accept_the_usual_sizes() -> None:
    check_input_shapes([[1, 3, 640, 640], [-1, 3, 1280, 1280], [16, 512], [1, 3, 4096, 4096]])
