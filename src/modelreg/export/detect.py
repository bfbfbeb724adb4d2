"""Tell what kind of PyTorch file a weights file is without running anything in it (no torch import).

A TorchScript archive has ``code/`` and ``constants.pkl``; a ``torch.export`` program (``.pt2``) has
``archive_format``; anything else saved by ``torch.save`` has a ``data.pkl`` pickle, whose GLOBAL opcodes
(read with ``pickletools``, never executed) say whether it holds only tensors in containers (a state dict
or a checkpoint dict of them) or objects of other classes (a pickled module, which loading would run).
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

from modelreg.export.job import SourceKind
from modelreg.export.limits import DETECT_BYTES

# Extensions a weights file may have, in the order a version's files are considered.
WEIGHT_SUFFIXES: tuple[str, ...] = (".pt2", ".torchscript", ".ptl", ".jit", ".pt", ".pth", ".ckpt")
# Globals that a plain state dict's pickle refers to (tensor rebuilding and containers).
_SAFE_GLOBALS = {
    "collections OrderedDict", "collections defaultdict", "builtins set", "builtins frozenset", "builtins slice",
    "torch._utils _rebuild_tensor", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor_v3",
    "torch._utils _rebuild_parameter", "torch._utils _rebuild_parameter_with_state", "torch device",
    "torch._utils _rebuild_qtensor", "torch Size", "torch._tensor _rebuild_from_type_v2", "torch dtype",
    "_codecs encode", "numpy.core.multiarray _reconstruct", "numpy dtype", "numpy ndarray",
}
_STORAGE_MODULE = "torch"


def _is_safe_global(module: str, name: str) -> bool:
    if f"{module} {name}" in _SAFE_GLOBALS:
        return True
    # torch.FloatStorage, torch.HalfStorage …, and the dtypes (torch float32) used by newer formats
    return module == _STORAGE_MODULE and (name.endswith("Storage") or name in {"float32", "float16", "bfloat16",
                                                                                 "int64", "int32", "uint8", "bool"})


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs a pickle would import, read from its opcodes without unpickling."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
            module, _, name = arg.partition(" ")
            found.add((module, name))
        elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(str(arg))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            found.add((strings[-2], strings[-1]))
    return found


def detect_source_kind(path: str | Path) -> SourceKind | None:
    """``torchscript``, ``exported_program``, ``state_dict``, ``pickled_module``, or None if not a torch file."""
    p = Path(path)
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        return _legacy_pickle_kind(p)
    with archive:
        names = archive.namelist()
        if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
            return "exported_program"
        if any("/code/" in n or n.startswith("code/") for n in names) and any(
                n.endswith("constants.pkl") for n in names):
            return "torchscript"
        pickles = [n for n in names if n.endswith("data.pkl")]
        if not pickles:
            return None
        try:
            with archive.open(min(pickles, key=len)) as member:  # decompressed as read: a bounded prefix
                data = member.read(DETECT_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
            return None
    return _kind_of_pickle(data[:DETECT_BYTES], complete=len(data) <= DETECT_BYTES)


def _kind_of_pickle(data: bytes, *, complete: bool = True) -> SourceKind | None:
    """``data`` is the whole pickle, or (``complete`` False) its first ``DETECT_BYTES``: a pickle longer
    than that is never read on, and is taken for a pickled module (loading it needs ``trusted``) unless
    its first bytes already show it is one — the safe answer for a file too large to look through."""
    try:
        found = pickle_globals(data)
    except Exception:  # not a pickle at all, or cut off by the bound
        if complete:
            return None
        return None if _globals_before_the_cut(data) is None else "pickled_module"
    return "state_dict" if all(_is_safe_global(m, n) for m, n in found) else "pickled_module"


def _globals_before_the_cut(data: bytes) -> set[tuple[str, str]] | None:
    """The globals of a pickle's first bytes, or None when they are not a pickle's."""
    if not data.startswith(b"\x80"):
        return None
    found: set[tuple[str, str]] = set()
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                found.add((module, name))
    except Exception:  # where the bound cut the pickle
        pass
    return found


def _legacy_pickle_kind(path: Path) -> SourceKind | None:
    """Files from ``torch.save(..., _use_new_zipfile_serialization=False)`` start with a plain pickle."""
    try:
        with open(path, "rb") as f:
            head = f.read(DETECT_BYTES)
    except OSError:
        return None
    if not head.startswith(b"\x80"):
        return None
    try:
        found = set()
        for opcode, arg, _ in pickletools.genops(head):
            if opcode.name == "GLOBAL" and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                found.add((module, name))
            if opcode.name == "STOP":
                break
    except Exception:
        return None
    return "state_dict" if all(_is_safe_global(m, n) for m, n in found) else "pickled_module"
