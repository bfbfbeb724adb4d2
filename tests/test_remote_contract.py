"""The SDK contract suite (test_service.py), unchanged, against the HTTP client and a real server.

Every test of test_service.py is collected here again with ``reg`` = ``modelreg.connect(url)`` to one
uvicorn server of the session (conftest ``remote_server``), serving fresh stores per test. The suite's
white-box assertions (``reg.ctx.blobs`` holds no blob after a refused registration, a blob corrupted on
disk) look at the server's stores: the fixture gives the client a ``ctx`` that is a window onto the
in-process server's stores (not something ``HttpRegistry`` has), with the client's own settings.

Also here: ``HttpRegistry`` offers every public method of ``Service`` with the same signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg.client.http import HttpRegistry, RemoteRun
from modelreg.config import Settings
from modelreg.registry import Registry
from modelreg.service import Context, Run, Service
from test_service import *  # noqa: F403 -- the contract suite, collected again with the ``reg`` below


@pytest.fixture
def reg(remote_state: Any, remote_server: Any, tmp_path: Path) -> Iterator[HttpRegistry]:
    """The registry through HTTP; ``reg.ctx`` is the test's window onto the server's stores."""
    settings = Settings(home=tmp_path / "home", actor="tester")
    registry = modelreg.connect(remote_server.url, settings=settings)
    assert isinstance(registry, HttpRegistry)
    registry.ctx = Context(meta=remote_state.meta, blobs=remote_state.blobs,  # type: ignore[attr-defined]
                           settings=settings, actor="tester")
    try:
        yield registry
    finally:
        registry.close()


def _public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in inspect.getmembers(cls) if not name.startswith("_")}


def test_both_registries_offer_exactly_the_registry_protocol() -> None:
    contract = _public(Registry)
    for cls in (Service, HttpRegistry):
        assert sorted(set(contract) - set(_public(cls))) == [], f"{cls.__name__} lacks them"
        assert sorted(set(_public(cls)) - set(contract)) == [], f"{cls.__name__} offers more than Registry"


def test_http_registry_has_every_public_method_with_the_same_signature() -> None:
    local, remote = _public(Service), _public(HttpRegistry)
    missing = sorted(set(local) - set(remote))
    assert missing == [], f"HttpRegistry lacks {missing}"
    for name, member in local.items():
        if isinstance(member, property):
            assert isinstance(remote[name], property), name
            continue
        want, got = inspect.signature(member), inspect.signature(remote[name])
        assert list(want.parameters) == list(got.parameters), name
        for p in want.parameters.values():
            q = got.parameters[p.name]
            assert (p.kind, p.default) == (q.kind, q.default), f"{name}({p.name})"
            assert p.annotation == q.annotation, f"{name}({p.name}): {p.annotation} != {q.annotation}"
        if name not in ("start_run", "resume_run"):  # a RemoteRun, the same interface as Run (checked below)
            assert want.return_annotation == got.return_annotation, name


def test_remote_run_has_the_interface_of_run() -> None:
    local, remote = _public(Run), _public(RemoteRun)
    assert sorted(local) == sorted(remote)
    for name, member in local.items():
        if callable(member):
            assert list(inspect.signature(member).parameters) == list(inspect.signature(remote[name]).parameters)


def test_import_reads_the_local_folder_and_registers_remotely(reg: HttpRegistry, tmp_path: Path) -> None:
    import test_import  # the environments-layout folder helpers of the import suite

    models = tmp_path / "recommender" / "models"
    for name in test_import.ARCHIVE[:2]:
        version, date = name.split("_")
        test_import.add_environments_layout_version(models / "archive" / name,
                                                    test_import.environments_layout_metadata(version, date, "archived"))
    test_import.add_environments_layout_version(models / "production", test_import.ENVIRONMENTS_LAYOUT_PRODUCTION)
    report = reg.import_folder(models, "recommender")
    assert [i.error for i in report.failed] == [] and len(report.imported) == 3
    assert reg.get_version("recommender@production").number == 3
    again = reg.import_folder(models, "recommender")  # already there: skipped, nothing uploaded again
    assert len(again.skipped) == 3 and reg.search_versions(model="recommender").total == 3


def test_a_cached_resolution_follows_commits_from_anywhere(reg: HttpRegistry) -> None:
    reg.register_version("m", files={"w": b"1"})
    reg.register_version("m", files={"w": b"2"})
    assert reg.get_version("m@production").number == 1
    assert reg.get_version("m@production").number == 1  # answered from the server's read cache
    Service(reg.ctx).activate("m:2")  # type: ignore[attr-defined]  -- another connection, as another process would
    assert reg.get_version("m@production").number == 2
    assert reg.resolve("m", "w").read_bytes() == b"2"
