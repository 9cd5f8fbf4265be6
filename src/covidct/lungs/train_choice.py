"""Fitting the lung choice classifier (the ``lung-choice`` family of ``covidct train``).

``segment_lungs(method="hybrid")`` keeps the voxels where the rules' mask and the lung
network's mask agree, and asks a classifier (:mod:`covidct.lungs.choice`) about the voxels
where they disagree. The shipped classifier was fitted with the shipped network; a network of
one's own (``covidct train lungs-unet-2mm``) disagrees with the rules elsewhere, and gets its
own classifier here.

Data: each real chest CT of ``data`` with clear lungs (minus ``exclude``), with simulated
disease painted into its lungs (:data:`covidct.phantom.PAINTED_SETS` named by ``cases``). The
truth of a voxel is the clear CT's lung labels (the rules' mask, or ``NAME_lungmask`` beside
the CT: :func:`covidct.lungs.train_data.read_labelled_ct`). For each painted scan, the rules'
mask and ``model``'s mask on the working grid; the features of their disagreement voxels
(:func:`covidct.lungs.choice.disagreement_features`, what a run computes) with that truth, up
to ``voxels_per_case`` drawn per scan. Use CTs the network did not train on: there, it
disagrees with the rules as on a new scan (a CT named in the network's card is refused).

``covidct train lung-choice --data DIR --set model=RUN/lung-unet.onnx -o RUN2`` writes
``RUN2/config.yaml``, ``RUN2/features.npz`` and ``RUN2/lung-choice.txt`` with its card and ONNX
export ``RUN2/lung-choice.onnx``; then ``covidct segment CT --lung-model RUN/lung-unet.onnx
--lung-choice RUN2/lung-choice.onnx``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError
from covidct.training.families import RunConfig

__all__ = ["PRESETS", "ChoiceTrainConfig", "case_features", "choice_inputs", "collect_features", "fit_choice_file",
           "preset_rows", "train_from_cli", "train_lung_choice"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ChoiceTrainConfig(RunConfig):
    """Everything a classifier fit needs; written as ``config.yaml`` into the run folder.

    Attributes:
        name: preset / run name.
        data: folder of real chest CTs with clear lungs (as ``LungTrainConfig.data``).
        exclude: names (file stem before "_" or ".") of CTs in ``data`` left out.
        model: the lung network file(s) (``.onnx`` / ``.pt``; "A+B": their mean); "" = the
            shipped network.
        cases: names of :data:`covidct.phantom.PAINTED_SETS` painted into each CT.
        voxels_per_case: disagreement voxels drawn per painted scan (at most).
        lung_weight: weight of the lung voxels in the fit (> 1 leans to lung where unsure).
        seed: seed of the draw and the fit.
    """

    name: str = "lung-choice"
    data: str = ""
    exclude: tuple[str, ...] = ()
    model: str = ""
    cases: tuple[str, ...] = ("standard", "fresh", "third", "fourth", "fifth", "x1", "x2")
    voxels_per_case: int = 60_000
    lung_weight: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        from covidct.phantom import PAINTED_SETS

        for name in ("exclude", "cases"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = sorted(set(self.cases) - set(PAINTED_SETS))
        if unknown or not self.cases:
            raise InvalidInputError(f"cases must name painted sets of {sorted(PAINTED_SETS)}; got {list(self.cases)}")
        if self.voxels_per_case < 1 or self.lung_weight <= 0:
            raise InvalidInputError("voxels_per_case and lung_weight must be > 0")


PRESETS: dict[str, ChoiceTrainConfig] = {
    # the recipe of the shipped classifier: 28 painted scans per CT (12 min for rider on this 2-core machine)
    "lung-choice": ChoiceTrainConfig(),
    # a smoke test: 4 painted scans per CT, 5000 voxels each
    "lung-choice-quick": ChoiceTrainConfig(name="lung-choice-quick", cases=("standard",), voxels_per_case=5000),
}


def preset_rows() -> list[Any]:
    """One row per preset for ``covidct train --list``."""
    from covidct.training.families import PresetRow

    return [PresetRow(name=name, family="lung-choice", model="LightGBM (300 trees)",
                      task="disputed voxels") for name in PRESETS]


def case_features(sick: Any, truth: np.ndarray, model: Any, opts: Any) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`~covidct.lungs.choice.FEATURES` of one scan's disagreement voxels (the rules'
    mask xor ``model``'s, on the working grid) and their labels (True: lung in ``truth``, a
    ``(z, y, x)`` mask on the scan's grid).

    Raises:
        NoLungsFoundError: no lungs in view.
    """
    from covidct.lungs.choice import disagreement_features
    from covidct.lungs.grid import labels_to_working
    from covidct.lungs.learned_segment import network_labels, network_pass
    from covidct.lungs.segment import segment_lungs

    net = network_pass(sick.array, sick.spacing, sick.direction, opts, "ct", model=model)
    rules = labels_to_working(segment_lungs(sick, method="refined"), net.grid) > 0
    labels = net.labels if net.labels is not None else network_labels(net, opts, "ct")
    idx, X = disagreement_features(net.hu, net.prob, net.body, rules, labels > 0, net.grid.spacing,
                                   superior_is_high=net.orient.superior_is_high)
    return X, labels_to_working(np.asarray(truth, np.uint8), net.grid)[idx] > 0


def _check_unseen(model: Any, cts: list[Path]) -> None:
    """Refuse CTs that the network names as its training data (its card's ``real_cts``)."""
    seen = {ct for net in model for ct in net.card.get("trained_on", {}).get("real_cts", [])}
    overlap = sorted(p.name for p in cts if p.name in seen)
    if overlap:
        raise InvalidInputError(f"the lung network trained on {overlap}: fit its classifier on other CTs "
                                f"(exclude them with --set \"exclude=[...]\")")


def choice_inputs(config: ChoiceTrainConfig) -> tuple[list[Path], Any]:
    """The CT files and the lung network(s) of ``config``, checked: each CT is read and its
    lung labels made (then dropped), so that a damaged CT or one without lungs is refused
    before a run folder is made.

    Raises:
        CovidCTError: no CT, a damaged CT or network, a CT without lungs in view, or a CT the
            network trained on (named in its card).
    """
    from covidct.errors import NoLungsFoundError
    from covidct.lungs.network import load_lung_models
    from covidct.lungs.train_data import read_labelled_ct, real_ct_files

    if not config.data:
        raise InvalidInputError("lung-choice needs --data: a folder of real chest CTs with clear lungs")
    cts = real_ct_files(config.data, config.exclude)
    model = load_lung_models(config.model or None)
    _check_unseen(model, cts)
    for path in cts:
        try:
            read_labelled_ct(path)
        except NoLungsFoundError as exc:
            raise NoLungsFoundError(f"{path}: no lungs in view; lung-choice needs chest CTs with clear lungs: "
                                    "leave it out of --data or name it in exclude") from exc
    return cts, model


def collect_features(config: ChoiceTrainConfig, cts: list[Path], model: Any, *, progress: Any = None
                     ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The features and labels of every painted scan of ``config`` on ``cts`` with the network
    ``model`` (voxels drawn per scan, seed ``config.seed``) and what they came from."""
    import time

    from covidct.lungs.options import LungOptions
    from covidct.lungs.train_data import read_labelled_ct
    from covidct.lungs.weights import network_id
    from covidct.phantom import painted_cases

    opts, rng, Xs, ys, rows = LungOptions(), np.random.default_rng(config.seed), [], [], []
    for path in cts:
        volume, labels = read_labelled_ct(path)
        for _, case, sick, _ in painted_cases(volume, labels, config.cases):
            t = time.perf_counter()
            X, y = case_features(sick, labels > 0, model, opts)
            keep = rng.random(len(y)) < min(1.0, config.voxels_per_case / max(len(y), 1))
            Xs.append(X[keep])
            ys.append(y[keep])
            rows.append({"ct": path.name, "case": case, "disagreement_voxels": len(y), "kept": int(keep.sum())})
            if progress:
                progress(f"{path.name} {case}: {len(y)} disagreement voxels, {y.mean() if len(y) else 0:.2f} lung, "
                         f"{time.perf_counter() - t:.0f} s")
    X, y = np.concatenate(Xs), np.concatenate(ys)
    if len(np.unique(y)) < 2:
        raise InvalidInputError("the painted scans gave disagreement voxels of one class only; "
                                "add CTs or case sets")
    meta = {"real_cts": [p.name for p in cts], "cases": list(config.cases), "model": config.model or "shipped",
            "model_sha256": network_id(model), "voxels_per_case": config.voxels_per_case,
            "seed": config.seed, "scans": rows}
    return X, y, meta


def _save_features(file: Path, X: np.ndarray, y: np.ndarray, meta: dict) -> None:
    tmp = file.with_name(file.name + ".part")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, X=X, y=y, meta=json.dumps(meta))
    tmp.replace(file)


def train_lung_choice(config: ChoiceTrainConfig, out: str | Path, *, progress: Any = None) -> Path:
    """Fit the classifier of ``config`` into the run folder ``out``; returns ``out``."""
    cts, model = choice_inputs(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    X, y, meta = collect_features(config, cts, model, progress=progress)
    _save_features(out / "features.npz", X, y, meta)
    file = fit_choice_file(X, y, out / "lung-choice.txt", name=config.name, lung_weight=config.lung_weight,
                           seed=config.seed, trained_on=[{k: v for k, v in meta.items() if k != "scans"}],
                           options={"lung_choice": config.to_dict()}, inputs=cts)
    if progress:
        onnx = file.with_suffix(".onnx")
        progress(f"{onnx}: fitted on {len(y)} voxels ({y.mean():.2f} lung) of {len(meta['scans'])} painted "
                 f"scans; use: covidct segment CT{f' --lung-model {config.model}' if config.model else ''} "
                 f"--lung-choice {onnx}")
    return out


def fit_choice_file(X: np.ndarray, y: np.ndarray, file: str | Path, *, name: str, lung_weight: float, seed: int,
                    trained_on: list[dict[str, Any]], options: dict[str, Any] | None = None,
                    inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Fit the classifier on ``X`` / ``y`` and write it to ``file`` (LightGBM text) with its
    card and ONNX export (:func:`covidct.lungs.choice.save_lung_choice`). ``trained_on``: one
    record per source of the voxels, each with the ``model_sha256`` of the network (what
    :func:`covidct.lungs.weights.fitted_with` reads). Returns ``file``."""
    from covidct.lungs.choice import FEATURES, fit_lung_choice, save_lung_choice
    from covidct.provenance import provenance

    Path(file).parent.mkdir(parents=True, exist_ok=True)
    booster = fit_lung_choice(X, y, lung_weight=lung_weight, seed=seed)
    card = {"name": name, "model": "LightGBM, 300 trees, 31 leaves, learning rate 0.05",
            "intended_use": "voxels where the rules' and the lung network's masks disagree, in "
                            "covidct.lungs.segment_lungs(method='hybrid') with the network of "
                            "trained_on[].model_sha256; research use",
            "trained_on": trained_on, "voxels": len(y), "lung_share": float(y.mean()), "lung_weight": lung_weight,
            "split_counts": dict(zip(FEATURES, booster.feature_importance().tolist())),
            "provenance": provenance(options=options, seed=seed, inputs=list(inputs))}
    return save_lung_choice(booster, file, card=card, X=X)


def train_from_cli(source: str, out: Path, overrides: dict[str, Any], progress: Any = None) -> Path:
    """Fit the preset or YAML ``source`` into ``out`` (the family interface)."""
    from covidct.training.families import load_preset_config

    config = load_preset_config(source, PRESETS, what="lung-choice").with_overrides(**overrides)
    return train_lung_choice(config, out, progress=progress)
