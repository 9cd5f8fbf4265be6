"""End-to-end training on a tiny store: CV predictions, no leakage, metrics and plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covidct.errors import InvalidInputError
from covidct.training import compare_runs, evaluate_run, get_preset, train
from covidct.training.data import Normaliser, load_cohort


def _cfg(cohort, **kw):
    base = dict(data=str(cohort), features=str(cohort / "features.parquet"), folds=2,
                epochs=1, batch_size=4, bootstrap=50, crop=(12, 16, 16))
    base.update(kw)
    return get_preset("covid-mtl-cpu").with_overrides(**base)


def test_covid_mtl_cv_run(cohort, tmp_path):
    run = train(_cfg(cohort), tmp_path / "mtl")
    preds = pd.read_csv(run / "predictions.csv")
    # every case predicted exactly once, out of fold
    assert sorted(preds.case_id) == [f"c{i:02d}" for i in range(16)]
    splits = pd.read_csv(run / "splits.csv")
    assert splits.groupby("patient_id")["fold"].nunique().max() == 1
    merged = preds.merge(splits, on=["case_id", "patient_id"], suffixes=("", "_split"))
    assert (merged.fold == merged.fold_split).all()
    for task, n in (("ct", 2), ("nat", 2), ("severity", 3)):
        probs = preds[[f"{task}_p{c}" for c in range(n)]].to_numpy()
        assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    metrics = json.loads((run / "metrics.json").read_text())
    acc = metrics["tasks"]["ct"]["metrics"]["accuracy"]
    y = preds.ct_true.to_numpy()
    pred = preds[["ct_p0", "ct_p1"]].to_numpy().argmax(1)
    assert acc["value"] == pytest.approx((y == pred).mean())
    assert acc["ci_low"] <= acc["value"] <= acc["ci_high"]
    for f in ("roc_ct.png", "confusion_severity.png", "metrics.md", "config.yaml",
              "fold0/fit_state.json", "fold1/checkpoints/last.ckpt"):
        assert (run / f).is_file(), f
    assert list((run / "fold0" / "tensorboard").rglob("events.out.tfevents*"))


def test_normalisation_and_scaling_fit_on_training_fold_only(cohort, tmp_path):
    run = train(_cfg(cohort, run_folds=(0,)), tmp_path / "one", evaluate=False)
    state = json.loads((run / "fold0" / "fit_state.json").read_text())
    splits = pd.read_csv(run / "splits.csv")
    feats = pd.read_parquet(cohort / "features.parquet").merge(splits, on="case_id")
    train_feats = feats[feats.fold != 0]
    # the feature scaler saw only training-fold cases
    assert state["feature_min"][state["feature_columns"].index("original_glcm_Noise")] == pytest.approx(
        train_feats.original_glcm_Noise.min())
    assert state["feature_max"][state["feature_columns"].index("original_glcm_Noise")] == pytest.approx(
        train_feats.original_glcm_Noise.max())
    assert train_feats.original_glcm_Noise.max() != feats.original_glcm_Noise.max() or \
        train_feats.original_glcm_Noise.min() != feats.original_glcm_Noise.min()


def test_single_task_run_and_compare(cohort, tmp_path):
    cfg = get_preset("shiftnet3d-ct").with_overrides(
        data=str(cohort), folds=2, epochs=1, batch_size=4, bootstrap=20, crop=(12, 16, 16))
    run = train(cfg, tmp_path / "st")
    res = evaluate_run(run, bootstrap=20)
    assert set(res["tasks"]) == {"ct"}
    table = compare_runs([run], tmp_path / "cmp")
    assert "| st | ct |" in table and (tmp_path / "cmp" / "comparison.png").is_file()


def test_errors_name_the_problem(cohort, tmp_path):
    with pytest.raises(InvalidInputError, match="no manifest"):
        load_cohort(_cfg(cohort, data=str(tmp_path)))
    with pytest.raises(InvalidInputError, match="features table"):
        load_cohort(_cfg(cohort, features=str(tmp_path / "none.parquet")))
    with pytest.raises(InvalidInputError, match="not a finished training run"):
        evaluate_run(tmp_path)


def test_normaliser_clips_and_standardises():
    vols = [np.array([[[-2000, -1000], [0, 2000]]], np.int16)]
    norm = Normaliser.fit(vols, -1024, 600)
    out = norm(vols[0])
    assert out.dtype == np.float32
    clipped = np.clip(vols[0], -1024, 600).astype(float)
    assert np.allclose(out, (clipped - clipped.mean()) / clipped.std(), atol=1e-4)


def test_only_imaging_features_reach_the_model(cohort):
    # the feature table also holds a timing that separates the classes, a worker id, a label,
    # geometry and a path: none of them may become a model input
    cases, cols = load_cohort(_cfg(cohort))
    assert cols == ["original_firstorder_Mean", "original_glcm_Noise"]
    assert len(cases) == 16


def test_validation_split_early_stopping_and_best_checkpoint(cohort, tmp_path, expected_hardware):
    # lr 0: nothing is learnt, so the validation loss cannot keep improving and training
    # must stop long before 30 epochs; the tested checkpoint is the best one on validation
    cfg = _cfg(cohort, val_size=0.3, early_stopping_patience=1, epochs=30, lr=0.0,
               run_folds=(0,), loss="random")
    run = train(cfg, tmp_path / "es", evaluate=False)
    state = json.loads((run / "fold0" / "fit_state.json").read_text())["training"]
    assert state["stopped_early"] and state["epochs_run"] < 30
    assert state["monitor"] == "val_loss_unweighted"
    assert state["best_score"] == pytest.approx(min(state["val_history"]), rel=1e-6)
    assert state["patients"]["val"] >= 1 and state["patients"]["train"] >= 1
    assert state["hardware"] == expected_hardware  # "auto": the GPU in 16-mixed when present
    assert (run / "fold0" / "checkpoints" / "best.ckpt").is_file()
    splits = pd.read_csv(run / "splits.csv")
    preds = pd.read_csv(run / "predictions.csv")
    assert set(preds.case_id) == set(splits.loc[splits.fold == 0, "case_id"])


def test_folds_file_and_provenance(cohort, tmp_path):
    from covidct.datasets.splits import patient_folds, save_folds

    table = pd.read_parquet(cohort / "manifest.parquet")
    folds = save_folds(patient_folds(table, 2, seed=7, stratify="severity"),
                       tmp_path / "folds.csv")
    run = train(_cfg(cohort, folds_file=str(folds), run_folds=(1,)), tmp_path / "ff",
                evaluate=False)
    splits = pd.read_csv(run / "splits.csv").sort_values("case_id")
    saved = pd.read_csv(folds).sort_values("case_id")
    assert splits["fold"].tolist() == saved["fold"].tolist()
    prov = json.loads((run / "provenance.json").read_text())["provenance"]
    assert prov["seed"] == 0 and prov["versions"]["torch"]
    assert prov["options"]["train"]["deterministic"] is False
    assert prov["options"]["folds"]["seed"] == 7 and prov["options"]["folds"]["file"] == str(folds)
    from covidct.provenance import sha256_file

    hashes = {p["path"]: p["sha256"] for p in prov["inputs"]}
    assert hashes[str(folds)] == sha256_file(folds)
    assert hashes[str(cohort / "manifest.parquet")] == sha256_file(cohort / "manifest.parquet")


def test_loader_workers_draw_different_augmentations(cohort):
    from covidct.training.data import CohortDataModule, FoldData

    manifest = pd.read_parquet(cohort / "manifest.parquet")
    same = pd.concat([manifest.iloc[[0]]] * 4, ignore_index=True)  # one case, four times
    cfg = _cfg(cohort, num_workers=2, batch_size=1, use_features=False, noise_p=1.0)

    def batches():
        dm = CohortDataModule(cfg, FoldData(0, same, same.iloc[0:0], same), [], (12, 16, 16))
        dm.setup()
        return [b["volume"].numpy() for b in dm.train_dataloader()]

    first = batches()
    # items 0 and 1 come from different workers: their random crop/noise must differ
    assert not np.array_equal(first[0], first[1])
    # and the whole sequence is reproducible from the seed
    assert all(np.array_equal(a, b) for a, b in zip(first, batches()))


def test_train_cli_folds_file_errors_are_one_line(cohort, tmp_path):
    from typer.testing import CliRunner

    from covidct.cli.app import app

    runner = CliRunner()
    base = ["train", "shiftnet3d-ct", "--data", str(cohort), "-o", str(tmp_path / "run"),
            "--set", "crop=[12, 16, 16]"]
    res = runner.invoke(app, [*base, "--folds-file", str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "folds file" in res.output and "Traceback" not in res.output
    partial = tmp_path / "partial.csv"
    pd.DataFrame({"case_id": ["c00"], "patient_id": ["P0"], "fold": [0]}).to_csv(partial)
    res = runner.invoke(app, [*base, "--folds-file", str(partial)])
    assert res.exit_code == 2 and "have no fold" in res.output
