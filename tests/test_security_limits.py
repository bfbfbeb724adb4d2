"""Bounded work per request, and versions that can always be written out (review findings 6, 12, 14).

On a real server, SQLite and PostgreSQL: 40,000 artifacts in one registration are refused at once (and
10,000, the cap, register), a comparison of 20 versions with 50,000 epochs or thousands of params stays
small, a file and a folder of the same name in one version are refused, and a pull that fails half-way
leaves nothing behind.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelreg
from modelreg.service import Service
from modelreg.service.blobs import MAX_FILES_PER_VERSION
from modelreg.service.insights import MAX_CURVE_POINTS, MAX_PARAMS
from test_server import assert_error, upload


def blob_count(state: Any) -> int:
    return len(list(state.blobs.iter_digests()))


def versions_of(state: Any, model: str) -> int:
    reg: Service = state.service()
    try:
        return reg.list_versions(model).total
    except modelreg.ModelNotFound:
        return 0


# ---- 6. files per version


def test_forty_thousand_artifacts_are_refused_at_once(backend_api: httpx.Client, backend_state: Any) -> None:
    digest = upload(backend_api, b"one small blob")
    artifacts = [{"path": f"f/{i}.bin", "digest": digest, "size": 14} for i in range(40_000)]
    error = assert_error(backend_api.post("/versions", json={"model": "m", "artifacts": artifacts}), 422,
                         "invalid_artifact_path")
    assert f"{MAX_FILES_PER_VERSION:,}" in error["message"] and error["details"]["count"] == 40_000
    assert versions_of(backend_state, "m") == 0


def test_the_cap_of_ten_thousand_artifacts_registers(backend_api: httpx.Client, backend_state: Any) -> None:
    digest = upload(backend_api, b"one small blob")
    artifacts = [{"path": f"f/{i}.bin", "digest": digest, "size": 14} for i in range(MAX_FILES_PER_VERSION)]
    created = backend_api.post("/versions", json={"model": "m", "artifacts": artifacts}, timeout=300)
    assert created.status_code == 201, created.text[:500]
    assert len(created.json()["artifacts"]) == MAX_FILES_PER_VERSION
    assert blob_count(backend_state) == 1  # stored once


def test_a_folder_of_too_many_files_is_refused_before_anything_is_stored(reg: Service, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(MAX_FILES_PER_VERSION + 1):
        (folder / f"{i}.txt").write_bytes(b"x")
    with pytest.raises(modelreg.InvalidArtifactPath) as err:
        reg.register_version("m", files=folder)
    assert err.value.details["count"] == MAX_FILES_PER_VERSION + 1
    assert list(reg.ctx.blobs.iter_digests()) == [] and reg.search_versions().total == 0


# ---- 14. every version can be written out as a folder


@pytest.mark.parametrize(("paths", "named"), [(["a", "a/b"], "a"), (["w/x.pt", "w/x.pt/y"], "w/x.pt"),
                                              ([" "], " "), (["weights/best.pt "], "weights/best.pt ")])
def test_paths_that_cannot_be_written_out_are_refused(backend_api: httpx.Client, backend_state: Any,
                                                      paths: list[str], named: str) -> None:
    digest = upload(backend_api, b"w")
    body = {"model": "m", "artifacts": [{"path": p, "digest": digest, "size": 1} for p in paths]}
    error = assert_error(backend_api.post("/versions", json=body), 422, "invalid_artifact_path")
    assert repr(named) in error["message"]
    assert versions_of(backend_state, "m") == 0


def test_a_run_with_a_file_and_a_folder_of_the_same_name_fails_cleanly(reg: Service, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"file")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"inside")
    with pytest.raises(modelreg.InvalidArtifactPath), reg.start_run("m") as run:
        run.log_file(tmp_path / "a", name="x")
        run.log_file(tmp_path / "d", name="x")
    assert reg.get_version(run.ref).status == "failed"


def test_a_pull_that_fails_half_way_leaves_nothing(reg: Service, tmp_path: Path) -> None:
    version = reg.register_version("m", files={"a.pt": b"first file", "b.pt": b"second file"})
    digest = next(a.digest for a in version.artifacts if a.path == "b.pt")
    stored = reg.ctx.blobs.local_path(digest)
    if stored is None:  # the memory store: damage it through the fake's own bytes
        reg.ctx.blobs._blobs[digest] = b"second fil!"  # type: ignore[attr-defined]
    else:
        stored.chmod(0o644)
        stored.write_bytes(b"second fil!")
    fresh = tmp_path / "fresh"
    with pytest.raises(modelreg.IntegrityError):
        reg.pull("m:1", fresh)
    assert not fresh.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(modelreg.IntegrityError):
        reg.pull("m:1", mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_a_pull_into_a_folder_in_the_way_is_refused_before_fetching(reg: Service, tmp_path: Path) -> None:
    reg.register_version("m", files={"weights/best.pt": b"w"})
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "weights").write_text("a file where the folder goes")
    with pytest.raises(modelreg.InvalidInput):
        reg.pull("m:1", dest)
    assert (dest / "weights").read_text() == "a file where the folder goes"


# ---- 12. a comparison's work is bounded


def test_comparing_twenty_long_histories_is_bounded(backend_api: httpx.Client) -> None:
    epochs = [{"epoch": i, "loss": 1.0 / (i + 1), "map50": i / 50_000} for i in range(50_000)]
    digest = upload(backend_api, b"w")
    body = {"model": "m", "artifacts": [{"path": "w.pt", "digest": digest, "size": 1}], "epochs": epochs}
    assert backend_api.post("/versions", json=body, timeout=300).status_code == 201
    refs = ["m:1"] * 20
    response = backend_api.post("/versions/compare", json={"refs": refs}, timeout=120)
    assert response.status_code == 200, response.text[:300]
    comparison = response.json()
    curve = comparison["curves"]["default/m:v1"]["loss"]
    assert len(curve) <= MAX_CURVE_POINTS and curve[0][0] == 0 and curve[-1][0] == 49_999
    assert all(a[0] < b[0] for a, b in itertools.pairwise(curve))  # thinned, in order
    assert any("epochs" in note for note in comparison["cut"])
    assert len(response.content) < 2_000_000
    assert_error(backend_api.post("/versions/compare", json={"refs": ["m:1"] * 21}), 422, "invalid_input")


def test_a_params_diff_is_capped_and_says_so(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"}, params={f"p{i:05d}": i for i in range(MAX_PARAMS + 500)})
    reg.register_version("m", files={"w": b"2"}, params={"p00000": -1})
    comparison = reg.compare(["m:1", "m:2"])
    assert len(comparison.params) == MAX_PARAMS and comparison.params[0].values == [0, -1]
    assert any("parameters" in note for note in comparison.cut)


def test_a_metadata_field_over_a_mebibyte_is_refused(backend_api: httpx.Client, backend_state: Any) -> None:
    digest = upload(backend_api, b"w")
    params = {f"k{i}": "x" * 1000 for i in range(1100)}
    body = {"model": "m", "artifacts": [{"path": "w.pt", "digest": digest, "size": 1}], "params": params}
    assert len(json.dumps(params)) > 1024 * 1024
    error = assert_error(backend_api.post("/versions", json=body), 422, "invalid_metadata")
    assert error["details"]["field"] == "params"
    assert versions_of(backend_state, "m") == 0
