"""ModelregCallback with a real Hugging Face ``Trainer`` (a tiny BERT built offline): a ready version with its
history, the best checkpoint's files and params; a crash inside ``with callback:`` recorded as failed; the same
against ``modelreg serve``; a process other than the world's process zero records nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

import modelreg
from modelreg.config import Settings
from modelreg.integrations.transformers import ModelregCallback


class Tokens(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 50, (size, 8), generator=generator)
        self.labels = (self.ids[:, 0] > 25).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


class Explode(TrainerCallback):
    def on_epoch_begin(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if state.epoch and state.epoch >= 1:
            raise RuntimeError("loss exploded")


class WorkerTrainer(Trainer):
    """A Trainer that is not the world's process zero, as every other process of a distributed run is."""

    def is_world_process_zero(self) -> bool:
        return False


def _train(tmp_path: Path, callback: ModelregCallback, *extra: TrainerCallback,
           trainer_class: type[Trainer] = Trainer) -> Trainer:
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)  # two labels by default
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=8,
                             per_device_eval_batch_size=8, eval_strategy="epoch", save_strategy="epoch",
                             logging_strategy="epoch", load_best_model_at_end=True, report_to=[], use_cpu=True,
                             learning_rate=1e-3, disable_tqdm=True)
    trainer = trainer_class(model=BertForSequenceClassification(config), args=args, train_dataset=Tokens(32, 0),
                      eval_dataset=Tokens(16, 1), callbacks=[callback, *extra])
    trainer.train()
    return trainer


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_train_records_a_ready_version(tmp_path: Path) -> None:
    with modelreg.connect(home=tmp_path / "reg") as reg:
        callback = ModelregCallback(model="intent", registry=reg, alias="staging")
        trainer = _train(tmp_path, callback)
        version = reg.get_version("intent:1")
        assert version.status == "ready" and {"production", "staging"} <= set(version.aliases)
        assert version.params["learning_rate"] == 1e-3 and version.params["num_train_epochs"] == 2
        assert version.params["model_config"]["hidden_size"] == 16
        history = reg.history("intent:1")
        assert [e.epoch for e in history] == [1, 2]
        assert all({"loss", "eval_loss"} <= set(e.metrics) for e in history)
        best = trainer.state.best_model_checkpoint
        assert best is not None and trainer.state.best_metric is not None
        assert version.metrics["eval_loss"] == pytest.approx(trainer.state.best_metric)
        paths = {a.path for a in version.artifacts}
        assert "weights/model.safetensors" in paths and "weights/config.json" in paths
        stored = reg.resolve("intent:1", "weights/model.safetensors").read_bytes()
        assert stored == (Path(best) / "model.safetensors").read_bytes()
        assert version.training is not None and (version.training.duration_s or 0) > 0
        assert callback.run_version is not None and callback.run_version.number == 1


def test_a_crash_inside_the_block_records_the_run_as_failed(tmp_path: Path) -> None:
    with modelreg.connect(home=tmp_path / "reg") as reg:
        callback = ModelregCallback(model="intent", registry=reg)
        with pytest.raises(RuntimeError, match="loss exploded"), callback:
            _train(tmp_path, callback, Explode())
        version = reg.get_version("intent:1")
        assert version.status == "failed" and version.error == "RuntimeError: loss exploded"
        assert [e.epoch for e in reg.history("intent:1")] == [1]


def test_train_against_a_server(remote_server: Any, remote_state: Any, tmp_path: Path) -> None:
    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester")) as reg:
        trainer = _train(tmp_path / "ok", ModelregCallback(model="intent", registry=reg))
        version = reg.get_version("intent:1")
        assert version.status == "ready" and version.aliases == ["production"]
        assert [e.epoch for e in reg.history("intent:1")] == [1, 2]
        best = trainer.state.best_model_checkpoint
        assert best is not None
        assert reg.resolve("intent:1", "weights/model.safetensors").read_bytes() == \
            (Path(best) / "model.safetensors").read_bytes()
        callback = ModelregCallback(model="intent", registry=reg)
        with pytest.raises(RuntimeError, match="loss exploded"), callback:
            _train(tmp_path / "crash", callback, Explode())
        failed = reg.get_version("intent:2")
        assert failed.status == "failed" and failed.error == "RuntimeError: loss exploded"
    kept = remote_state.service().get_version("intent:1")  # on the server, by the token's actor
    assert kept.status == "ready" and kept.created_by == "tester"


def test_a_process_other_than_zero_records_nothing(tmp_path: Path) -> None:
    with modelreg.connect(home=tmp_path / "reg") as reg:
        callback = ModelregCallback(model="intent", registry=reg)
        with callback:
            _train(tmp_path, callback, trainer_class=WorkerTrainer)
        assert reg.search_models().total == 0 and callback.run_version is None
