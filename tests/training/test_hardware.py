"""``covidct.training.hardware``: what ``precision: auto`` means, and what a run reports."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from covidct.training.hardware import resolve_precision, used_hardware


@pytest.mark.parametrize("cuda", [True, False])
@pytest.mark.parametrize("accelerator", ["auto", "gpu", "cuda", "cpu"])
def test_auto_precision_is_16_mixed_only_on_a_gpu(monkeypatch, cuda, accelerator):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    want = "16-mixed" if cuda and accelerator != "cpu" else "32-true"
    assert resolve_precision("auto", accelerator) == want


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_a_named_precision_is_kept(precision):
    assert resolve_precision(precision, "cpu") == precision


def test_a_fitted_trainer_reports_what_it_ran_on(tmp_path, expected_hardware):
    trainer = L.Trainer(max_steps=2, accelerator="auto", devices=1,
                        precision=resolve_precision("auto", "auto"), default_root_dir=tmp_path,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(BoringModel())
    assert used_hardware(trainer) == expected_hardware


def test_cpu_run_on_a_gpu_machine_is_32_bit_on_the_cpu(tmp_path):
    trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=1,
                        precision=resolve_precision("auto", "cpu"), default_root_dir=tmp_path,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(BoringModel())
    assert used_hardware(trainer) == {"device": "cpu", "device_name": None, "precision": "32-true",
                                      "world_size": 1}
