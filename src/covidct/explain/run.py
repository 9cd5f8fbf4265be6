"""``covidct explain``: Grad-CAM pictures and heat volumes for slice and volume models.

* slice model + image file(s) or folder: one overlay PNG per image (``<stem>_cam.png``);
* slice training run (evaluated): a grid of true/false positives/negatives of its test
  slices (``outcomes.png``, positive = the COVID class), as in the tutorial;
* 3D model + CT: the heat volume on the CT's own grid (``heat.nii.gz``) and axial overlays
  of its hottest slices (``axial.png``).

Every call writes ``explain.json`` (what was explained, predictions, provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from covidct.datasets._common import read_png
from covidct.datasets.detect import read_dataset
from covidct.datasets.table import resolve_path
from covidct.errors import InvalidInputError
from covidct.explain.cam import slice_heatmaps, volume_heatmap
from covidct.explain.overlays import overlay, save_axial_montage, save_image_grid, save_png
from covidct.provenance import provenance
from covidct.slices.transforms import NOT_HU, crop_box

__all__ = ["ExplainOptions", "explain", "explain_images", "explain_slice_run", "explain_volume"]

_IMAGES = {".png", ".jpg", ".jpeg"}
_BOX = ["xmin", "ymin", "xmax", "ymax"]


@dataclass(frozen=True, kw_only=True)
class ExplainOptions:
    """Settings of ``covidct explain``.

    Attributes:
        method: CAM variant (:data:`covidct.explain.cam.METHODS`).
        target: class to explain; None = the predicted class.
        task: task of a multi-task 3D model.
        per_group: examples per group in the TP/FP/TN/FN grid.
        n_axial: axial slices in the 3D montage.
    """

    method: str = "gradcam"
    target: int | None = None
    task: str = "ct"
    per_group: int = 4
    n_axial: int = 6


def _out_dir(out: str | Path, inputs: list[Path]) -> Path:
    out = Path(out)
    for p in inputs:
        if out.resolve() == p.resolve() or p.resolve() in out.resolve().parents:
            raise InvalidInputError(f"output folder {out} must not be an input or inside one ({p})")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_json(out: Path, payload: dict[str, Any]) -> Path:
    path = out / "explain.json"
    tmp = path.with_name("explain.json.part")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
    return path


def _image_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGES) if path.is_dir() else [path]
    if not files or any(p.suffix.lower() not in _IMAGES for p in files):
        raise InvalidInputError(f"{path}: expected a PNG/JPG slice image or a folder of them")
    return files


def explain_images(model_path: str | Path, images: str | Path, out: str | Path, *,
                   options: ExplainOptions = ExplainOptions()) -> Path:
    """Overlay PNGs of a slice model's Grad-CAM on 8-bit slice images (not HU)."""
    from covidct.slices.model_file import load_slice_model

    model = load_slice_model(model_path)
    files = _image_files(Path(images))
    out_dir = _out_dir(out, [Path(images)])
    grey = [read_png(f) for f in files]
    targets = None if options.target is None else [options.target] * len(files)
    maps, used = slice_heatmaps(model, grey, targets=targets, method=options.method)
    probs = model.predict(grey)
    rows = []
    for f, im, heat, t, p in zip(files, grey, maps, used, probs):
        save_png(overlay(_resized(im, model.transform.crop), heat), out_dir / f"{f.stem}_cam.png")
        rows.append({"image": str(f), "target": model.class_names[int(t)],
                     **{n: float(v) for n, v in zip(model.class_names, p)}})
    _write_json(out_dir, {"model": str(model.source), "sha256": model.sha256, "input": NOT_HU,
                          "method": options.method, "images": rows,
                          "provenance": provenance(options={"explain": options}, inputs=[model.source, *files])})
    return out_dir


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    from skimage.transform import resize

    """``image`` resized to side x side as the model sees it (grey uint8)."""
    out = resize(image.astype(np.float64), (side, side), order=1, preserve_range=True, anti_aliasing=True)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _outcome(true: int, pred: int, positive: int) -> str:
    return {(True, True): "TP", (False, True): "FP", (False, False): "TN",
            (True, False): "FN"}[(true == positive, pred == positive)]


def explain_slice_run(run_dir: str | Path, out: str | Path, *,
                      options: ExplainOptions = ExplainOptions()) -> Path:
    """Grad-CAM grid of true/false positives/negatives among a slice run's test slices."""
    from covidct.slices.model_file import load_slice_model

    run = Path(run_dir)
    pred_file, cfg_file = run / "predictions.csv", run / "config.yaml"
    if not pred_file.is_file() or not cfg_file.is_file():
        raise InvalidInputError(f"{run} is not a finished slice run (predictions.csv, config.yaml)")
    config = yaml.safe_load(cfg_file.read_text())
    preds = pd.read_csv(pred_file, dtype={"patient_id": str})
    table = read_dataset(config["data"]).set_index("case_id")
    boxed = bool(config.get("box_crop")) and "xmin" in table.columns
    out_dir = _out_dir(out, [run])
    groups: dict[str, list[tuple[np.ndarray, str]]] = {g: [] for g in ("TP", "FP", "TN", "FN")}
    listed = []
    for fold, sub in preds.groupby("fold"):
        model = load_slice_model(run / f"fold{fold}" / "model.pt")
        k = len(model.class_names)
        probs = sub[[f"p{c}" for c in range(k)]].to_numpy()
        sub = sub.assign(pred=probs.argmax(axis=1), score=probs[:, -1])
        sub["outcome"] = [_outcome(t, p, model.positive_class) for t, p in zip(sub["true"], sub["pred"])]
        for name, items in groups.items():
            room = options.per_group - len(items)
            chosen = sub[sub["outcome"] == name].sort_values("score", ascending=name in ("FN", "TN"))
            chosen = chosen.head(max(room, 0))
            if chosen.empty:
                continue
            images = [crop_box(read_png(resolve_path(config["data"], row["image"])),
                               tuple(table.loc[str(row["case_id"]), list(_BOX)]) if boxed else None)
                      for _, row in chosen.iterrows()]
            maps, _ = slice_heatmaps(model, images, method=options.method,
                                     targets=[model.positive_class] * len(images))
            for (_, row), im, heat in zip(chosen.iterrows(), images, maps):
                items.append((overlay(_resized(im, model.transform.crop), heat),
                                     f"{Path(row['image']).stem[:18]}\np={row['score']:.2f}"))
                listed.append({"image": row["image"], "outcome": name, "score": float(row["score"]),
                               "fold": int(fold)})
    groups = {k: v for k, v in groups.items() if v}
    save_image_grid(groups, out_dir / "outcomes.png",
                    title=f"{config['name']}: Grad-CAM of the COVID class on test slices")
    _write_json(out_dir, {"run": str(run), "input": NOT_HU, "method": options.method,
                          "examples": listed, "provenance": provenance(options={"explain": options})})
    return out_dir


def explain_volume(model_path: str | Path, ct_path: str | Path, out: str | Path, *,
                   options: ExplainOptions = ExplainOptions(), lungs_path: str | Path | None = None) -> Path:
    """Heat volume (NIfTI on the CT's grid) and axial overlays of a 3D model on one CT."""
    from covidct.inference.volume import load_volume_model, predict_volume, prepare_volume
    from covidct.io import read_ct
    from covidct.io.read import read_mask
    from covidct.io.write import write_image
    from covidct.lungs import segment_lungs

    model = load_volume_model(model_path)
    ct = read_ct(ct_path)
    lungs = read_mask(lungs_path, ct) if lungs_path else segment_lungs(ct)
    out_dir = _out_dir(out, [Path(ct_path)])
    prepared = prepare_volume(model, ct, lungs)
    probs = predict_volume(model, prepared)
    heat = volume_heatmap(model, prepared, ct, task=options.task, target=options.target)
    write_image(heat, ct, out_dir / "heat.nii.gz")
    save_axial_montage(ct.array, heat, out_dir / "axial.png", n=options.n_axial, spacing=ct.spacing,
                       title=f"Grad-CAM, task {options.task}")
    target = options.target if options.target is not None else int(np.argmax(probs[options.task]))
    _write_json(out_dir, {"model": str(model.source), "sha256": model.sha256, "ct": str(ct_path),
                          "task": options.task, "target": target,
                          "probabilities": {t: v.tolist() for t, v in probs.items()},
                          "heat": "heat.nii.gz (float32 in [0, 1] on the CT's grid)",
                          "provenance": provenance(options={"explain": options},
                                                   inputs=[model.source, ct_path])})
    return out_dir


def explain(model: str | Path, target: str | Path, out: str | Path, *,
            options: ExplainOptions = ExplainOptions()) -> Path:
    """Dispatch (see the module docstring).

    ``model``: a slice model / slice run / 3D model; ``target``: images, a CT, or for a slice
    run the word ``test`` (or the run folder itself) for its TP/FP/TN/FN grid.
    """
    from covidct.slices.model_file import is_slice_model

    model, target = Path(model), Path(target)
    if not model.exists():
        raise InvalidInputError(f"model {model} does not exist")
    slice_model = is_slice_model(model)
    is_run = slice_model and model.is_dir() and (model / "predictions.csv").is_file()
    if is_run and (str(target) == "test" or target.resolve() == model.resolve()):
        return explain_slice_run(model, out, options=options)
    if not target.exists():
        raise InvalidInputError(f"input {target} does not exist")
    if slice_model:
        return explain_images(model, target, out, options=options)
    return explain_volume(model, target, out, options=options)
