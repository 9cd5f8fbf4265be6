"""Is a slice export learnable? A reference classifier on grey-level histograms.

Before a CNN is blamed for not learning, this fits logistic regression (scikit-learn,
standardised features, C chosen by patient-grouped CV on the training part only) on each
slice's 32-bin histogram of grey levels 1..255 (0 = the black padding; 8-bit images: grey
levels, not HU; COVIDx-CT slices cut to their body box) and scores the dataset's own test split (patient-level for the simulated exports),
with patient-bootstrap 95 % CIs (``covidct.evaluation.classification_metrics``). Training =
the ``train`` and ``val`` splits.

    python benchmarks/slices_reference.py sim_ucsd400 --out ref_ucsd.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from covidct.datasets.detect import read_dataset
from covidct.evaluation.metrics import classification_metrics
from covidct.io.atomic import write_text
from covidct.provenance import provenance
from covidct.slices.data import SliceDataset

BINS = 32


def histogram_features(ds: SliceDataset) -> np.ndarray:
    """(n, BINS) share of pixels per grey-level bin (1..255; 0 = padding) of each slice."""
    edges = np.linspace(1, 256, BINS + 1)
    rows = []
    for i in range(len(ds)):
        image = ds.image(i)
        counts, _ = np.histogram(image[image > 0], bins=edges)
        rows.append(counts / max(counts.sum(), 1))
    return np.asarray(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="UCSD or COVIDx-CT slice dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    table = read_dataset(args.data)
    n_classes = int(table["class_id"].max()) + 1
    train = table[table["split"].isin(["train", "val"])]
    test = table[table["split"] == "test"]
    x_train = histogram_features(SliceDataset(train, args.data, None))
    x_test = histogram_features(SliceDataset(test, args.data, None))
    y_train = train["class_id"].to_numpy(int)
    folds = list(GroupKFold(5).split(x_train, y_train, groups=train["patient_id"].to_numpy()))
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=10, cv=folds, max_iter=5000, scoring="neg_log_loss"))
    model.fit(x_train, y_train)
    probs = model.predict_proba(x_test)
    metrics = classification_metrics(
        test["class_id"].to_numpy(int), probs if n_classes > 2 else probs[:, 1],
        n_classes=n_classes, bootstrap=args.bootstrap, groups=test["patient_id"].to_numpy())
    result = {"model": f"logistic regression on {BINS}-bin grey-level histograms",
              "train_slices": len(train), "train_patients": int(train["patient_id"].nunique()),
              "test_slices": len(test), "test_patients": int(test["patient_id"].nunique()),
              "metrics": metrics,
              "provenance": provenance(options={"bins": BINS}, seed=0, inputs=[str(args.data)])}
    write_text(json.dumps(result, indent=2, default=str), args.out, what="reference result")
    for name in ("accuracy", "auc"):
        m = metrics["metrics"][name]
        print(f"{name}: {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")


if __name__ == "__main__":
    main()
