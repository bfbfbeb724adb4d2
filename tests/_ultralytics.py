"""Ultralytics for tests: offline, with a private config folder (the font it would download copied in) and its
other integrations (hub, W&B, MLflow …) off. Set before Ultralytics is first imported: it reads them then."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

YOLO_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "0"}
OTHER_INTEGRATIONS = ("sync", "clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb", "hub")


@contextmanager
def offline_ultralytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import matplotlib

    config = tmp_path_factory.mktemp("yolo-config")
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", config / "Arial.ttf")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"YOLO_CONFIG_DIR": str(config), **YOLO_ENV}.items():
            mp.setenv(name, value)
        from ultralytics.utils import SETTINGS

        SETTINGS.update({key: False for key in OTHER_INTEGRATIONS if key in SETTINGS})
        yield
