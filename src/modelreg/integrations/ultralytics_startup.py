"""What makes a plain ``yolo train …`` record its runs when ``MODELREG_ULTRALYTICS_MODEL`` is set.

Ultralytics loads no callbacks but its own, so an install of modelreg from a wheel puts one line in
site-packages, ``modelreg-ultralytics.pth``, which Python runs at every start. The line costs an environment
lookup; only when ``MODELREG_ULTRALYTICS_MODEL`` is set and the program is Ultralytics' own ``yolo`` (or
``ultralytics``) command does it import this module. This module waits for Ultralytics' callback registry
(``ultralytics.utils.callbacks.base``) to be imported — the ``yolo`` script imports it before it reads its
arguments, and site-packages may not all be on ``sys.path`` yet when the line runs — then adds the modelreg
callbacks to every trainer of the process and rewrites ``model=modelreg://REF`` (``enable_for_command``).

Nothing here may stop the command: a problem is printed as a warning and ``yolo`` runs as it would have.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

COMMANDS = ("yolo", "ultralytics")  # the console scripts of the ultralytics package
REGISTRY_MODULE = "ultralytics.utils.callbacks.base"  # holds default_callbacks, which every trainer copies


def wanted(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process is a ``yolo`` command whose runs should be recorded."""
    program = os.path.basename(argv[0]) if argv else ""
    return bool(environ.get("MODELREG_ULTRALYTICS_MODEL", "").strip()) and program in COMMANDS


def enable() -> None:
    """Add the callbacks for this ``yolo`` command (``sys.argv``), warning instead of failing."""
    try:
        from modelreg.integrations.ultralytics import enable_for_command

        args = enable_for_command(sys.argv[1:], os.environ)
    except Exception as exc:  # the user's training runs even when recording cannot start
        print(f"modelreg: not recording this run ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    if args is not None:
        sys.argv[1:] = args


class AfterRegistryImport(MetaPathFinder):
    """Runs ``enable`` once ``REGISTRY_MODULE`` has been executed (found by the other finders as usual)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> ModuleSpec | None:
        if fullname != REGISTRY_MODULE:
            return None
        sys.meta_path.remove(self)  # once, and never for our own lookup below
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None:
            return spec
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            enable()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if wanted(sys.argv, os.environ):
    if REGISTRY_MODULE in sys.modules:
        enable()
    else:
        sys.meta_path.insert(0, AfterRegistryImport())
