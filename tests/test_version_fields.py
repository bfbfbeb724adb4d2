"""A version's settable fields are declared once (``modelreg.types.VersionFields``); everything else derives.

These tests fail when a field is declared in one place and forgotten in another: the stored form, the
service's checks, the REST bodies, the SQL table, the in-memory store, the SDK signatures.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from modelreg.client.http import HttpRegistry, RemoteRun
from modelreg.errors import InvalidInput
from modelreg.local.fields import FIELD_CHECKS
from modelreg.local.runs import RunBase
from modelreg.metadata.base import (
    VERSION_DOCUMENT_FIELDS,
    VERSION_PAIR_FIELDS,
    VERSION_SCALAR_FIELDS,
    VERSION_UPDATABLE,
)
from modelreg.metadata.sql.schema import versions as versions_table
from modelreg.registry import Registry
from modelreg.server.wire import RunFinish, VersionCreate, VersionFieldsBody, VersionRegister, VersionUpdate
from modelreg.service import Service
from modelreg.types import (
    VERSION_FIELDS,
    VERSION_STATE_FIELDS,
    VersionFields,
    VersionMetadata,
    given_fields,
    over_folder_fields,
    version_field_help,
)

STORED = set(VERSION_FIELDS) - {"parent"}  # parent is a link (parent_id), the rest are VersionMetadata fields


def test_the_stored_form_holds_exactly_the_declared_fields_plus_the_registrys_own() -> None:
    assert set(VersionMetadata.model_fields) == STORED | set(VERSION_STATE_FIELDS)


def test_every_declared_field_has_a_check_in_the_service() -> None:
    assert set(FIELD_CHECKS) == STORED


def test_each_field_has_help_text() -> None:
    for name in VERSION_FIELDS:
        assert len(version_field_help(name)) > 10, name


def test_rest_bodies_take_exactly_the_declared_fields() -> None:
    assert set(VersionFieldsBody.model_fields) == set(VERSION_FIELDS)
    assert set(VersionUpdate.model_fields) == set(VERSION_FIELDS)
    assert set(VersionCreate.model_fields) == set(VERSION_FIELDS) | {"artifacts", "epochs", "config", "update_labels"}
    assert set(VersionRegister.model_fields) == set(VersionCreate.model_fields) | {"model"}
    assert set(RunFinish.model_fields) == set(VERSION_FIELDS) | {"artifacts"}
    for name in VERSION_FIELDS:
        assert VersionUpdate.model_fields[name].description == version_field_help(name)


def test_openapi_documents_each_field_once(remote_server: Any) -> None:
    schema = remote_server.app.openapi()["components"]["schemas"]
    assert set(schema["VersionUpdate"]["properties"]) == set(VERSION_FIELDS)
    assert schema["VersionUpdate"]["properties"]["limitations"]["description"] == version_field_help("limitations")


def test_stores_keep_every_field_one_way() -> None:
    kinds = [set(VERSION_PAIR_FIELDS), set(VERSION_DOCUMENT_FIELDS), set(VERSION_SCALAR_FIELDS)]
    assert set().union(*kinds) == set(VersionMetadata.model_fields)
    assert sum(len(k) for k in kinds) == len(VersionMetadata.model_fields)  # no field kept two ways
    expected = set(VersionMetadata.model_fields) - {"created_at", "created_by"} | {"parent_id"}
    assert expected == VERSION_UPDATABLE


def test_the_sql_table_has_a_column_for_every_field() -> None:
    columns = set(versions_table.c.keys())
    assert set(VersionMetadata.model_fields) <= columns, set(VersionMetadata.model_fields) - columns


def test_sdk_signatures_take_the_declaration() -> None:
    for cls in (Registry, Service, HttpRegistry):
        for method in ("register_version", "update_version"):
            params = inspect.signature(getattr(cls, method)).parameters
            declared = [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
            assert [p.name for p in declared] == ["fields"], (cls, method)
            assert not set(params) & set(VERSION_FIELDS), f"{cls.__name__}.{method} repeats a field by hand"
    for run_cls in (RunBase, RemoteRun):
        params = inspect.signature(run_cls.set).parameters
        assert not set(params) & set(VERSION_FIELDS)


def test_an_unknown_keyword_is_refused_with_the_fields() -> None:
    with pytest.raises(InvalidInput) as caught:
        given_fields({"metrics": {"map50": 0.9}, "mAP": 0.9})
    assert "'mAP'" in caught.value.message
    assert "metrics" in (caught.value.hint or "") and "limitations" in (caught.value.hint or "")


def test_folder_fields_are_overridden_and_open_maps_merge() -> None:
    found = {"metrics": {"map50": 0.5, "recall": 0.4}, "notes": "from the folder", "tags": {"a": "1"}}
    given = {"metrics": {"map50": 0.9}, "notes": "given", "tags": {"b": "2"}}
    assert over_folder_fields(found, given) == {"metrics": {"map50": 0.9, "recall": 0.4}, "notes": "given",
                                                "tags": {"a": "1", "b": "2"}}


def _every_field() -> dict[str, Any]:
    return {
        "metrics": {"map50": 0.8}, "class_metrics": [{"class_name": "fire", "ap": 0.7}], "params": {"lr": 0.01},
        "dataset": {"name": "fires", "version": "3"}, "training": {"epochs": 3}, "source": {"commit": "abc"},
        "signature": {"inputs": [{"name": "images", "dtype": "float32", "shape": [1, 3, 64, 64]}]},
        "description": "d", "notes": "n", "changelog": ["c"], "limitations": "l", "tags": {"k": "v"},
        "extra": {"owner": "me"}, "label": "v4_no_leakage",
    }


def test_every_field_round_trips_through_each_store(reg: Service, tmp_path: Path) -> None:
    fields = _every_field()
    assert set(fields) == STORED  # the test itself follows the declaration
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    first = reg.register_version("m", files=[weights])
    v = reg.register_version("m", files=[weights], parent=f"m:{first.number}", **fields)
    again = reg.get_version(f"m:{v.number}")
    assert again.parent is not None and again.parent.number == first.number
    for name in STORED:
        assert getattr(again, name) == getattr(v, name), name
    assert again.label == "v4_no_leakage" and again.limitations == "l" and again.dataset is not None
    changed = reg.update_version(f"m:{v.number}", limitations="m", label="", changelog=["d"], tags={"k": None})
    assert (changed.limitations, changed.label, changed.changelog, changed.tags) == ("m", None, ["d"], {})


@pytest.mark.parametrize("call", ["register_version", "update_version"])
def test_unknown_keywords_change_nothing(reg: Service, call: str) -> None:
    reg.register_version("m", metrics={"map50": 0.5})
    bad: dict[str, Any] = {"metrics": {"map50": 0.9}, "limitation": "typo"}
    with pytest.raises(InvalidInput, match="'limitation'"):
        if call == "register_version":
            reg.register_version("m", **bad)
        else:
            reg.update_version("m:1", **bad)
    assert reg.get_version("m:latest").number == 1
    assert reg.get_version("m:1").metrics == {"map50": 0.5}


def test_a_runs_parent_is_refused_at_finish(reg: Service) -> None:
    with reg.start_run("m") as run, pytest.raises(InvalidInput, match="parent"):
        run.set(parent="m:1")  # type: ignore[typeddict-unknown-key,unused-ignore]
    assert reg.get_version("m:1").status in ("ready", "failed")


def test_the_typed_dict_is_the_sdk_keyword_type() -> None:
    annotations = inspect.signature(Service.register_version).parameters["fields"].annotation
    assert "VersionFields" in str(annotations)
    assert VersionFields.__total__ is False


def test_over_http_every_field_round_trips_and_unknown_ones_are_refused(remote_state: Any, remote_server: Any,
                                                                        tmp_path: Path) -> None:
    import modelreg
    from modelreg.config import Settings

    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "home", actor="t")) as remote:
        v = remote.register_version("m", files={"w.pt": b"w"}, **_every_field())
        for name in _every_field():
            assert getattr(v, name) == getattr(remote.get_version(f"m:{v.number}"), name), name
        with pytest.raises(InvalidInput, match="'limitation'"):
            remote.update_version("m:1", limitation="typo")  # type: ignore[call-arg]
        body = {"model": "m", "limitation": "typo"}  # a client that bypasses the SDK: the body refuses it
        import httpx

        reply = httpx.post(f"{remote_server.url}/api/v1/versions", json=body)
        assert reply.status_code == 422 and "limitation" in reply.text
        assert remote.get_version("m:latest").number == 1


def test_the_concepts_page_describes_every_field() -> None:
    text = (Path(__file__).parent.parent / "docs" / "concepts.md").read_text(encoding="utf-8")
    missing = [name for name in VERSION_FIELDS if f"`{name}`" not in text]
    assert missing == [], f"docs/concepts.md does not describe {missing}"
