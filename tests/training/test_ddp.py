"""DDP on the CPU (gloo, 2 processes): disjoint training shards, each test case once, rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

SCRIPT = """
import sys
from covidct.training import get_preset, train

def main():
    data, folds, out = sys.argv[1:4]
    cfg = get_preset("shiftnet3d-ct").with_overrides(
        data=data, folds_file=folds, run_folds=(1,), epochs=1, batch_size=2, bootstrap=20,
        crop=(12, 16, 16), accelerator="cpu", devices=2, strategy="ddp", precision="32-true")
    train(cfg, out)

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_ddp_two_cpu_processes(cohort, tmp_path):
    # 15 cases: patient P7 keeps one scan, so the test fold has an odd number of cases and
    # the distributed sampler must pad one process's shard with a duplicate
    data = tmp_path / "prep"
    data.mkdir()
    (data / "cases").symlink_to(cohort / "cases")
    (data / "grid.json").write_text((cohort / "grid.json").read_text())
    manifest = pd.read_parquet(cohort / "manifest.parquet")
    manifest = manifest[manifest.case_id != "c15"]
    manifest.to_parquet(data / "manifest.parquet")
    folds = manifest[["case_id", "patient_id"]].assign(
        fold=(manifest.patient_id.str[1:].astype(int) >= 4).astype(int))
    folds.to_csv(tmp_path / "folds.csv", index=False)
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(script), str(data), str(tmp_path / "folds.csv"),
                           str(run)], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    test_cases = set(folds.loc[folds.fold == 1, "case_id"])
    train_cases = set(folds.loc[folds.fold == 0, "case_id"])
    assert len(test_cases) == 7
    preds = pd.read_csv(run / "predictions.csv")
    assert sorted(preds.case_id) == sorted(test_cases)  # every test case exactly once
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tasks"]["ct"]["n"] == 7
    state = json.loads((run / "fold1" / "fit_state.json").read_text())["training"]
    assert state["world_size"] == 2
    shard0, shard1 = (set(s) for s in state["train_cases_per_process"])
    assert shard0 and shard1 and not shard0 & shard1  # disjoint shards
    assert shard0 | shard1 == train_cases  # that together cover the training cases
    # rank 0 alone wrote the run folder: one config, one splits table, one TensorBoard run
    assert len(pd.read_csv(run / "splits.csv")) == 15
    events = list((run / "fold1" / "tensorboard").rglob("events.out.tfevents*"))
    assert events and len({e.name.split(".")[-2] for e in events}) == 1  # one writing process
