"""The package's public surface: ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import modelreg
from modelreg import errors


def test_all_is_sorted_and_importable() -> None:
    assert modelreg.__all__ == sorted(modelreg.__all__)
    for name in modelreg.__all__:
        assert hasattr(modelreg, name), name


def test_every_error_class_is_exported_and_documented() -> None:
    tree = errors.__doc__ or ""
    for code, cls in errors.ERRORS_BY_CODE.items():
        assert cls.__name__ in modelreg.__all__ or cls is errors.ModelregError, cls
        assert cls.__name__ in tree and code in tree, f"{cls.__name__} is not in the tree of errors.py"


def test_errors_round_trip_through_their_envelope() -> None:
    err = modelreg.VersionInUse("v5 is production", hint="activate another", model="m", version=5)
    again = errors.error_from_dict(err.to_dict())
    assert type(again) is modelreg.VersionInUse
    assert (again.message, again.hint, again.details) == (err.message, err.hint, err.details)
    assert again.http_status == 409 and again.code == "version_in_use"
