"""What an Ultralytics checkpoint (``best.pt`` of a YOLO run) says about its model, read without running it.

A checkpoint is a pickle, and unpickling it imports and calls whatever classes it names: here it is read by
an unpickler that imports nothing (every class it names becomes an inert stand-in that only keeps the state
it is given, tensors stay unread), from at most ``DETECT_BYTES`` of the pickle. What comes out is plain data:
the training arguments (``train_args``: task, image size) and the class names the model object carries.
Registration stores them (the version's signature, ``extra.ultralytics``, the model's task when it has
none), so a new version of a YOLO run is described before anyone loads it.
"""

from __future__ import annotations

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


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        real = _REAL.get((module, name))
        if real is not None:
            return real
        return type(name, (_Inert,), {"__module__": f"inert.{module}"})

    def persistent_load(self, pid: Any) -> None:  # a tensor's storage: never read
        return None


@dataclass(frozen=True)
class CheckpointFacts:
    task: str                       # Ultralytics' name: detect, segment, classify, pose, obb
    imgsz: int | None
    names: dict[int, str]
    channels: int = 3

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
        return {"task": self.task, "imgsz": self.imgsz, "names": {str(k): v for k, v in self.names.items()}}


def _pickle_bytes(path: Path) -> bytes | None:
    """The first ``DETECT_BYTES`` of the pickle of a ``torch.save`` zip archive (None: not one, or longer)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                return None
            with archive.open(min(pickles, key=len)) as member:
                data = member.read(DETECT_BYTES + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
        return None
    return data if len(data) <= DETECT_BYTES else None


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
    data = _pickle_bytes(p)
    if data is None:
        return None
    try:
        checkpoint = _InertUnpickler(BytesIO(data)).load()
    except Exception:  # not a pickle this reader can follow: no facts, the file is stored as it is
        return None
    if not isinstance(checkpoint, Mapping):
        return None
    args = checkpoint.get("train_args")
    model = checkpoint.get("ema") or checkpoint.get("model")
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
