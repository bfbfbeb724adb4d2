"""Everything is declared in pyproject.toml; this adds one file at the top of site-packages.

``modelreg-ultralytics.pth`` (see ``modelreg.integrations.ultralytics_startup``) lets a plain ``yolo train``
record its runs when ``MODELREG_ULTRALYTICS_MODEL`` is set. A ``.pth`` file must sit beside the packages, not in
one, which package data cannot do: the build step copies it there. Editable installs (``pip install -e``) do not
carry it; there, use ``python -m modelreg.integrations.ultralytics`` in place of ``yolo``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "modelreg-ultralytics.pth"


class BuildWithPth(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(str(Path("src") / PTH), str(Path(self.build_lib) / PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": BuildWithPth})
