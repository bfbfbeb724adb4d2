"""What an Ultralytics checkpoint (``best.pt`` of a YOLO run) says about its model, read without running it.

A checkpoint is a pickle, and unpickling it imports and calls whatever classes it names: here it is read by
an unpickler that imports nothing (every class it names becomes an inert stand-in that only keeps the state
it is given; a tensor becomes a note of where its values are), from at most ``DETECT_BYTES`` of the pickle.
What comes out is plain data: the training arguments (``train_args``: task, image size), the class names
the model object carries, and its strides (a tensor of a few numbers, read as numbers from the archive).
Registration stores them (the version's signature, ``extra.ultralytics``, the model's task when it has
none), so a new version of a YOLO run is described before anyone loads it.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from modelreg.export.limits import DETECT_BYTES
from modelreg.types import Task

# Ultralytics' task names, and the registry's for the ones it has.
TASKS: dict[str, Task] = {"detect": "detection", "segment": "segmentation", "classify": "classification"}
_REAL = {("collections", "OrderedDict"): OrderedDict, ("builtins", "set"): set, ("builtins", "frozenset"): frozenset}


class _Inert:
    """What a pickled object becomes: nothing runs; the state it is given is kept in ``state``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:  # a stand-in used as a function returns one too
        return _Inert()


# The element type of a storage class a pickle names, for the few small tensors read (numpy's names).
_STORAGE_DTYPES = {"HalfStorage": "<f2", "FloatStorage": "<f4", "DoubleStorage": "<f8", "BFloat16Storage": None,
                   "IntStorage": "<i4", "LongStorage": "<i8"}
SMALL_TENSOR = 64  # elements: a tensor this small (a model's strides) may be read from the archive


@dataclass(frozen=True)
class _TensorRef:
    """A tensor a pickle rebuilds: where its values are in the archive, not the values."""

    storage: tuple[str, str, int] | None  # (storage class name, key in the archive's data/, elements)
    offset: int
    shape: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, *rest: Any) -> _TensorRef:
    shape = tuple(int(d) for d in size) if isinstance(size, tuple) and all(isinstance(d, int) for d in size) else ()
    return _TensorRef(storage if isinstance(storage, tuple) else None, offset if isinstance(offset, int) else 0,
                      shape)


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        real = _REAL.get((module, name))
        if real is not None:
            return real
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor  # records where the tensor's values are; reads nothing
        return type(name, (_Inert,), {"__module__": f"inert.{module}"})

    def persistent_load(self, pid: Any) -> tuple[str, str, int] | None:
        """A tensor's storage, as (its class name, its key, its size): its bytes are never read here."""
        if isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage":
            kind = getattr(pid[1], "__name__", "")
            if isinstance(pid[2], str) and isinstance(pid[4], int):
                return (kind, pid[2], pid[4])
        return None


def _small_tensor(archive: zipfile.ZipFile, prefix: str, tensor: Any) -> list[float] | None:
    """The values of a small plain tensor the pickle referred to, read as numbers from the archive."""
    import numpy as np

    if not isinstance(tensor, _TensorRef) or tensor.storage is None:
        return None
    kind, key, elements = tensor.storage
    dtype = _STORAGE_DTYPES.get(kind)
    count = 1
    for d in tensor.shape:
        count *= d
    if dtype is None or elements > SMALL_TENSOR or not 0 < count <= elements - tensor.offset:
        return None
    try:
        raw = archive.read(f"{prefix}data/{key}")
    except (KeyError, OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError):
        return None
    values = np.frombuffer(raw, dtype=dtype, count=min(elements, len(raw) // np.dtype(dtype).itemsize))
    return [float(v) for v in values[tensor.offset:tensor.offset + count]]


@dataclass(frozen=True)
class CheckpointFacts:
    task: str                       # Ultralytics' name: detect, segment, classify, pose, obb
    imgsz: int | None
    names: dict[int, str]
    channels: int = 3
    stride: int | None = None       # the largest of the model's strides (32 for YOLOv8), when it could be read

    @property
    def registry_task(self) -> Task | None:
        """The model's task in the registry's words, where it has one."""
        return TASKS.get(self.task)

    def signature(self) -> dict[str, Any] | None:
        """The input the model takes (a batch of ``imgsz`` square images, any batch size), if its size is known."""
        if self.imgsz is None:
            return None
        return {"inputs": [{"name": "images", "dtype": "float32",
                            "shape": [-1, self.channels, self.imgsz, self.imgsz]}]}

    def extra(self) -> dict[str, Any]:
        return {"task": self.task, "imgsz": self.imgsz, "stride": self.stride,
                "names": {str(k): v for k, v in self.names.items()}}


def _pickle_of(archive: zipfile.ZipFile) -> tuple[bytes, str] | None:
    """The pickle of a ``torch.save`` archive and the folder it is in (None: none, or longer than
    ``DETECT_BYTES``)."""
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pickles:
        return None
    name = min(pickles, key=len)
    with archive.open(name) as member:
        data = member.read(DETECT_BYTES + 1)
    return (data, name.removesuffix("data.pkl")) if len(data) <= DETECT_BYTES else None


def _state(obj: Any) -> Mapping[str, Any]:
    state = obj.state if isinstance(obj, _Inert) else None
    if isinstance(state, tuple) and state and isinstance(state[0], Mapping):  # (dict, slots)
        state = state[0]
    return state if isinstance(state, Mapping) else {}


def _imgsz(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value) and len(set(value)) == 1:
        return int(value[0])
    return None


def checkpoint_facts(path: str | Path) -> CheckpointFacts | None:
    """The facts of an Ultralytics checkpoint at ``path``, or None when it is not one (or not readable so)."""
    p = Path(path)
    if p.suffix != ".pt" or not p.is_file():
        return None
    try:
        with zipfile.ZipFile(p) as archive:
            found = _pickle_of(archive)
            if found is None:
                return None
            data, prefix = found
            checkpoint = _InertUnpickler(BytesIO(data)).load()
            model = checkpoint.get("ema") or checkpoint.get("model") if isinstance(checkpoint, Mapping) else None
            strides = _small_tensor(archive, prefix, _state(model).get("stride"))
    except Exception:  # not an archive or a pickle this reader can follow: no facts, the file is stored as it is
        return None
    if not isinstance(checkpoint, Mapping):
        return None
    args = checkpoint.get("train_args")
    if not isinstance(args, Mapping) or not isinstance(model, _Inert):
        return None
    if not type(model).__module__.startswith("inert.ultralytics."):
        return None
    state = _state(model)
    names = state.get("names")
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    yaml = state.get("yaml")
    channels = yaml.get("channels", 3) if isinstance(yaml, Mapping) else 3
    task = args.get("task")
    return CheckpointFacts(
        task=task if isinstance(task, str) else "detect",
        imgsz=_imgsz(args.get("imgsz")),
        names={int(k): str(v) for k, v in names.items() if isinstance(k, int)} if isinstance(names, Mapping) else {},
        channels=channels if isinstance(channels, int) and channels > 0 else 3,
        stride=int(max(strides)) if strides and all(math.isfinite(v) and v > 0 for v in strides) else None,
    )


WEIGHTS_IN_A_RUN = ("weights/best.pt", "best.pt", "weights/last.pt", "last.pt")  # where a run folder keeps them


def checkpoint_fields(files: object) -> dict[str, Any]:
    """Version fields from the Ultralytics checkpoint among ``files`` being registered (a ``.pt`` file, a run
    folder's ``weights/best.pt``…, or a mapping's file stored as one of those): its ``signature`` and
    ``extra.ultralytics``; empty when there is none."""
    if isinstance(files, Mapping):  # {"weights/best.pt": "runs/train/weights/best.pt", ...}
        candidates = [Path(files[name]) for name in WEIGHTS_IN_A_RUN
                      if isinstance(files.get(name), str | os.PathLike)]
    elif isinstance(files, str | os.PathLike):
        path = Path(files)
        candidates = [path / name for name in WEIGHTS_IN_A_RUN] if path.is_dir() else [path]
    else:
        return {}
    for candidate in candidates:
        facts = checkpoint_facts(candidate)
        if facts is not None:
            fields: dict[str, Any] = {"extra": {"ultralytics": facts.extra()}}
            signature = facts.signature()
            if signature is not None:
                fields["signature"] = signature
            return fields
    return {}


def task_of(fields: Mapping[str, Any]) -> Task | None:
    """The registry's task a version's fields name through ``extra.ultralytics.task`` (None: none it knows)."""
    extra = fields.get("extra")
    found = extra.get("ultralytics") if isinstance(extra, Mapping) else None
    task = found.get("task") if isinstance(found, Mapping) else None
    return TASKS.get(task) if isinstance(task, str) else None
