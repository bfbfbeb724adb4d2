"""ModelregLogger with a real Lightning ``Trainer.fit``: a ready version with its history, best checkpoint,
params and final metric; a crash recorded as a failed run; the same against a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

import modelreg
from modelreg.config import Settings
from modelreg.integrations.lightning import ModelregLogger
from modelreg.registry import Registry

pytestmark = [
    # a CPU-only test on a tiny dataset: Lightning's advice about workers and logging intervals does not apply
    pytest.mark.filterwarnings(r"ignore:The '\w+_dataloader' does not have many workers:UserWarning"),
    pytest.mark.filterwarnings(r"ignore:The number of training batches .* is smaller than the logging interval"),
    pytest.mark.filterwarnings(r"ignore:GPU available but not used:UserWarning"),
    # Lightning 2.6 builds torch pytree LeafSpecs, which torch 2.13 deprecates
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


class Tiny(LightningModule):
    def __init__(self, lr: float = 0.05, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.current_epoch == self.hparams["fail_at_epoch"]:
            raise RuntimeError("loss exploded")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])


def _loader() -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)


def _fit(logger: ModelregLogger, root: Path, module: Tiny) -> ModelCheckpoint:
    checkpoint = ModelCheckpoint(monitor="val_loss", mode="min", save_last=True)
    trainer = Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=logger, callbacks=[checkpoint],
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                      log_every_n_steps=1)
    trainer.fit(module, _loader(), _loader())
    return checkpoint


def _check_ready(reg: Registry, checkpoint: ModelCheckpoint, *, alias: str | None = None) -> None:
    version = reg.get_version("tiny:1")
    assert version.status == "ready"
    assert version.params["lr"] == 0.05 and version.params["fail_at_epoch"] is None
    assert version.source is not None and "lightning" in (version.source.framework_versions or {})
    assert checkpoint.best_model_score is not None
    assert version.metrics["val_loss"] == pytest.approx(float(checkpoint.best_model_score))
    assert version.training is not None and (version.training.duration_s or 0) > 0
    history = reg.history("tiny:1")
    assert [e.epoch for e in history] == [1, 2]
    assert {"train_loss_epoch", "val_loss"} <= set(history[0].metrics)
    assert not any(name.endswith("_step") for e in history for name in e.metrics)
    assert {a.path for a in version.artifacts} == {"weights/best.ckpt", "weights/last.ckpt"}
    stored = reg.resolve("tiny:1", "weights/best.ckpt").read_bytes()
    assert stored == Path(checkpoint.best_model_path).read_bytes()
    assert "production" in version.aliases  # the model's first ready version
    if alias:
        assert alias in version.aliases


def test_fit_records_a_ready_version(tmp_path: Path) -> None:
    with modelreg.connect(home=tmp_path / "reg") as reg:
        logger = ModelregLogger(model="tiny", registry=reg, log_model="all", alias="staging")
        checkpoint = _fit(logger, tmp_path / "run", Tiny())
        _check_ready(reg, checkpoint, alias="staging")
        assert logger.run_version is not None and logger.run_version.ref == "default/tiny:v1"


def test_a_crash_records_the_run_as_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "reg"))  # no registry given: modelreg.connect()
    monkeypatch.delenv("MODELREG_URL", raising=False)
    with pytest.raises(RuntimeError, match="loss exploded"):
        _fit(ModelregLogger(model="tiny", project="vision"), tmp_path / "run", Tiny(fail_at_epoch=1))
    with modelreg.connect(home=tmp_path / "reg") as reg:
        version = reg.get_version("vision/tiny:1")
        assert version.status == "failed"
        assert version.error == "RuntimeError: loss exploded"
        assert [e.epoch for e in reg.history("vision/tiny:1")] == [1]  # the epoch it finished is kept
        assert version.aliases == []


def test_fit_against_a_server(remote_server: Any, remote_state: Any, tmp_path: Path) -> None:
    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester")) as reg:
        checkpoint = _fit(ModelregLogger(model="tiny", registry=reg, log_model="all"), tmp_path / "run", Tiny())
        _check_ready(reg, checkpoint)
        with pytest.raises(RuntimeError, match="loss exploded"):
            _fit(ModelregLogger(model="tiny", registry=reg), tmp_path / "crash", Tiny(fail_at_epoch=0))
        failed = reg.get_version("tiny:2")
        assert failed.status == "failed" and failed.error == "RuntimeError: loss exploded"


def test_a_worker_rank_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP every rank runs the same fit; only rank zero records it (Lightning's ``rank_zero_only.rank``,
    which a DDP launch sets from ``RANK``; set here as a second worker's would be)."""
    from lightning.pytorch.utilities import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with modelreg.connect(home=tmp_path / "reg") as reg:
        logger = ModelregLogger(model="tiny", registry=reg, log_model="all")
        _fit(logger, tmp_path / "run", Tiny())
        assert reg.search_models().total == 0
        assert logger.run_version is None
