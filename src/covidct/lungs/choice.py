"""A learned choice between the rules' and the network's lung masks where they disagree.

``segment_lungs(method="hybrid")`` has two masks of a diseased scan: the rules' R
(``"refined"``, HU edges) and the network's M (``"model"``, shape prior). Where they agree
their answer stands; each voxel of R xor M is lung when a gradient-boosted classifier
(LightGBM) says so from its context on the working grid (:data:`FEATURES`): the network's
probability (raw, 2 mm smoothed), HU (raw, 2 mm and 5 mm smoothed, 2 mm local SD), signed
depth in R, in M and in the body (mm, positive inside), height above the lungs' base and below
their apex (mm), and two values per scan (share of R above -300 HU, |R| / |M|). Most of the
voxels the fixed thresholds got wrong read >= -120 HU, where consolidation and soft tissue look
alike: HU alone cannot make this choice, position and shape can.

The shipped classifier (``covidct/data/models/lung-choice.txt``, a LightGBM text model, with
``lung-choice.card.json``: data, command, seed, sha256) was fitted on disagreement voxels of
painted cases of a CT that neither the shipped network nor the validation CTs include
(``benchmarks/lung_combiner_heldout.py``; ``covidct train lung-choice`` fits one for another
network: :mod:`covidct.lungs.train_choice`). A run uses its ONNX export (``lung-choice.onnx``,
:func:`export_choice_onnx`, in ONNX Runtime: no LightGBM or scikit-learn import, seconds of
start-up); :func:`load_lung_choice` checks either file against the card (``sha256``,
``onnx_sha256``).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import edt
import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError
from covidct.lungs.network import checked_onnx, finish_export, onnx_session
from covidct.lungs.threads import thread_map
from covidct.provenance import (
    checked_card,
    existing_model_file,
    model_version,
    sha256_file,
    write_card,
)

__all__ = ["CHOICE_FILE", "FEATURES", "LungChoice", "OnnxBooster", "choose_lung", "disagreement_features",
           "export_choice_onnx", "fit_lung_choice", "load_lung_choice", "save_lung_choice"]

#: file name of the shipped classifier inside ``covidct/data/models`` (what a run uses): the
#: ONNX export of the LightGBM text model ``lung-choice.txt`` beside it.
CHOICE_FILE = "lung-choice.onnx"
#: ``format`` of a lung choice classifier's ONNX metadata.
ONNX_FORMAT = "covidct-lung-choice-onnx/1"
#: largest probability difference an ONNX export may show against LightGBM.
ONNX_TOLERANCE = 1e-5
#: the classifier's inputs, in column order (see the module docstring).
FEATURES = ("prob", "hu", "hu_2mm", "hu_5mm", "hu_sd_2mm", "depth_rules_mm", "depth_net_mm", "depth_body_mm",
            "above_base_mm", "below_apex_mm", "dense_share", "rules_over_net", "prob_2mm")
_DENSE_HU = -300.0  # R's voxels above this count as dense (the ``dense_share`` feature)
_SMOOTH_MM = (2.0, 5.0)  # in-plane Gaussian sigmas; z sigmas are 0.5 and 1 working voxels
_TRUNCATE = 4.0  # scipy's Gaussian kernel radius in sigmas
_THREADS = 2  # of the distance transforms and the classifier's prediction


@dataclass(frozen=True)
class OnnxBooster:
    """A classifier's ONNX export run by ONNX Runtime, with a ``lightgbm.Booster``'s
    ``predict``: the probability of lung of each row of ``X``."""

    source: Path
    sha256: str

    def predict(self, X: np.ndarray, num_threads: int = _THREADS) -> np.ndarray:
        session = onnx_session(str(self.source), self.sha256, num_threads)
        return session.run(["probabilities"], {"X": np.ascontiguousarray(X, np.float32)})[0][:, 1]


@dataclass(frozen=True)
class LungChoice:
    """A fitted classifier (``booster``: a ``lightgbm.Booster`` or an :class:`OnnxBooster`
    on :data:`FEATURES`), the file it was loaded from, its sha256 and its card."""

    booster: Any
    source: Path | None = None
    sha256: str = ""
    card: dict[str, Any] = field(default_factory=dict)


def _box(mask: np.ndarray, margin: tuple[int, int, int]) -> tuple[slice, ...]:
    """The box around ``mask``'s voxels widened by ``margin`` voxels per axis, clipped."""
    out = []
    for axis, m in enumerate(margin):
        hit = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        out.append(slice(max(0, hit[0] - m), min(mask.shape[axis], hit[-1] + m + 1)))
    return tuple(out)


def _depth(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Signed distance to the border of ``mask`` (mm), positive inside (exact Euclidean;
    the ``edt`` package, as scipy's ``distance_transform_edt`` but several times faster)."""
    return edt.sdf(np.ascontiguousarray(mask), anisotropy=spacing, parallel=_THREADS)


def disagreement_features(hu: np.ndarray, prob: np.ndarray, body: np.ndarray, rules: np.ndarray,
                          net: np.ndarray, spacing: tuple[float, float, float], *, superior_is_high: bool
                          ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The voxels of ``rules`` xor ``net`` and their :data:`FEATURES`.

    Args:
        hu, prob, body: working-grid HU, the network's lung probability, body mask (z, y, x).
        rules, net: the two lung masks (bool, same grid).
        spacing: working-grid spacing (mm).
        superior_is_high: whether the head is at the high z indices (the heights above the
            lungs' base and below their apex follow the patient, not the array).
    Returns:
        (indices of the disagreement voxels as from ``np.nonzero``, float32 array of shape
        (n voxels, len(FEATURES))). Filters and distances run in the box around the lungs,
        widened by the filters' reach (values as on the whole grid); the body depth on the
        body's cross-section over those slices.
    """
    lungs = rules | net
    if not lungs.any():
        return tuple(np.zeros(0, np.intp) for _ in range(3)), np.zeros((0, len(FEATURES)), np.float32)
    reach = [int(_TRUNCATE * s + 0.5) + 1 for s in (1.0, _SMOOTH_MM[1] / spacing[1], _SMOOTH_MM[1] / spacing[2])]
    box = _box(lungs, tuple(reach))
    h, p = (np.asarray(a[box], np.float32) for a in (hu, prob))
    r, m = rules[box], net[box]
    local = np.nonzero(r ^ m)
    idx = tuple(i + b.start for i, b in zip(local, box))
    body_box = (box[0], *_box(body[box[0]] | lungs[box[0]], (1, 1, 1))[1:])
    body_idx = tuple(i - b.start for i, b in zip(idx, body_box))
    sig2 = (0.5, _SMOOTH_MM[0] / spacing[1], _SMOOTH_MM[0] / spacing[2])
    sig5 = (1.0, _SMOOTH_MM[1] / spacing[1], _SMOOTH_MM[1] / spacing[2])
    # the filters and distances, side by side (each releases the GIL)
    h2, h5, hh2, p2, d_rules, d_net, d_body = thread_map(lambda f: f(), [
        lambda: ndi.gaussian_filter(h, sig2, truncate=_TRUNCATE),
        lambda: ndi.gaussian_filter(h, sig5, truncate=_TRUNCATE),
        lambda: ndi.gaussian_filter(h * h, sig2, truncate=_TRUNCATE),
        lambda: ndi.gaussian_filter(p, sig2, truncate=_TRUNCATE),
        lambda: _depth(r, spacing), lambda: _depth(m, spacing),
        lambda: edt.edt(np.ascontiguousarray(body[body_box]), anisotropy=spacing, parallel=_THREADS)])
    zs = np.nonzero(lungs.any(axis=(1, 2)))[0]
    z_mm = idx[0].astype(np.float32) * spacing[0]
    up_mm = (z_mm - zs[0] * spacing[0], zs[-1] * spacing[0] - z_mm)  # from the low end, to the high end
    above_base, below_apex = up_mm if superior_is_high else up_mm[::-1]
    n, n_rules = len(local[0]), max(np.count_nonzero(r), 1)
    columns = [
        p[local], h[local], h2[local], h5[local], np.sqrt(np.maximum(hh2 - h2 * h2, 0.0))[local],
        d_rules[local], d_net[local], d_body[body_idx],
        above_base, below_apex,
        np.full(n, np.count_nonzero((h > _DENSE_HU) & r) / n_rules),
        np.full(n, np.count_nonzero(r) / max(np.count_nonzero(m), 1)),
        p2[local],
    ]
    return idx, np.stack(columns, axis=1).astype(np.float32)


def choose_lung(hu: np.ndarray, prob: np.ndarray, body: np.ndarray, rules: np.ndarray, net: np.ndarray,
                spacing: tuple[float, float, float], choice: LungChoice, *, superior_is_high: bool) -> np.ndarray:
    """The lung mask (bool, working grid): ``rules`` and ``net`` where they agree, the
    classifier's answer (probability of lung > 0.5) where they do not. Arguments as
    :func:`disagreement_features`."""
    lung = rules & net
    idx, X = disagreement_features(hu, prob, body, rules, net, spacing, superior_is_high=superior_is_high)
    if len(X):
        lung[idx] = choice.booster.predict(X, num_threads=_THREADS) > 0.5
    return lung


def fit_lung_choice(X: np.ndarray, y: np.ndarray, *, lung_weight: float = 2.0, seed: int = 0) -> Any:
    """A LightGBM booster (300 trees) fitted on disagreement voxels ``X`` (:data:`FEATURES`)
    with labels ``y`` (1: lung in the reference), lung voxels weighted ``lung_weight`` (> 1
    leans to lung where unsure, which keeps painted lesion inside the lungs)."""
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=200,
                             subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                             verbose=-1, n_jobs=1)
    clf.fit(np.asarray(X, np.float32), np.asarray(y, bool), sample_weight=np.where(y, lung_weight, 1.0),
            feature_name=list(FEATURES))
    return clf.booster_


def save_lung_choice(booster: Any, path: str | Path, *, card: dict[str, Any], X: np.ndarray | None = None) -> Path:
    """Write ``booster`` as a LightGBM text file, ``<stem>.card.json`` (``card`` plus the
    file's sha256) and the ONNX export ``<stem>.onnx`` (:func:`export_choice_onnx`, checked
    on ``X``), each through a temporary name. Returns the text file's path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(booster.model_to_string())
    tmp.replace(path)
    write_card(path, {**card, "features": list(FEATURES)})
    export_choice_onnx(booster, path.with_suffix(".onnx"), card_of=path, X=X)
    return path


def export_choice_onnx(booster: Any, path: str | Path, *, card_of: Path | None = None,
                       X: np.ndarray | None = None) -> Path:
    """Export a LightGBM ``booster`` on :data:`FEATURES` to ONNX (onnxmltools) at ``path``,
    via a temporary name, after a check: ONNX Runtime's probabilities on ``X`` (default 20 000
    rows drawn around the features' usual ranges) must agree with LightGBM's within
    ``ONNX_TOLERANCE``. With ``card_of`` (the text model whose card it is), the export's
    sha256 is written into that card as ``onnx_sha256``.

    Raises:
        InvalidInputError: an export that does not agree with LightGBM.
    """
    import onnx
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    proto = onnxmltools.convert_lightgbm(_float32_thresholds(booster), initial_types=[("X", FloatTensorType([None, len(FEATURES)]))],
                                         target_opset=15, zipmap=False)
    onnx.helper.set_model_props(proto, {"format": ONNX_FORMAT, "features": json.dumps(list(FEATURES))})
    tmp.write_bytes(proto.SerializeToString())
    if X is None:
        scale = np.array([0.5, 500, 500, 500, 100, 30, 30, 100, 150, 150, 0.3, 0.5, 0.5], np.float32)
        X = np.random.default_rng(0).normal(size=(20_000, len(FEATURES))).astype(np.float32) * scale
    X = np.asarray(X, np.float32)
    gap = float(np.abs(OnnxBooster(tmp, sha256_file(tmp)).predict(X) - booster.predict(X, num_threads=_THREADS)).max())
    export = {"function": "covidct.lungs.choice.export_choice_onnx", "onnxmltools": onnxmltools.__version__,
              "checked": f"probabilities of {len(X)} rows against LightGBM's"}
    return finish_export(tmp, path, gap, ONNX_TOLERANCE, export, card_of=card_of)


def _float32_thresholds(booster: Any) -> Any:
    """``booster`` with each split threshold t replaced by the largest float32 <= t: the same
    decisions (x <= t) for every float32 x, and thresholds that ONNX's float32 trees hold
    exactly (rounded to the nearest float32 instead, a feature equal to the rounded value
    would go the other way)."""
    import lightgbm as lgb

    def down(match: re.Match[str]) -> str:
        t = np.array(match.group(1).split(), np.float64)
        f = t.astype(np.float32)
        f = np.where(f.astype(np.float64) > t, np.nextafter(f, np.float32(-np.inf)), f)
        return "threshold=" + " ".join(repr(float(v)) for v in f)

    text = re.sub(r"(?m)^threshold=(.*)$", down, booster.model_to_string())
    return lgb.Booster(model_str=re.sub(r"(?m)^tree_sizes=.*\n", "", text))  # the byte sizes changed


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, card_mtime_ns: int) -> LungChoice:
    file = Path(path)
    remedy = "reinstall covidct or refit with covidct train lung-choice"
    if file.suffix == ".onnx":
        return _load_onnx(file, remedy)
    import lightgbm as lgb

    card, digest = checked_card(file, "lung choice classifier", remedy)
    try:
        text = file.read_text()
        if not text.startswith("tree\n"):  # before LightGBM, which prints its own error lines
            raise ValueError("no 'tree' header")
        booster = lgb.Booster(model_str=text)
    except (lgb.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"{file}: not a LightGBM model: {str(exc).splitlines()[0]}") from exc
    if tuple(booster.feature_name()) != FEATURES:
        raise InvalidInputError(f"{file}: the classifier's features {booster.feature_name()} are not "
                                f"covidct's lung choice features {list(FEATURES)}")
    return LungChoice(booster=booster, source=file, sha256=digest, card=card)


def _load_onnx(file: Path, remedy: str) -> LungChoice:
    features, digest, card = checked_onnx(file, "lung choice classifier", remedy, ONNX_FORMAT,
                                          lambda meta: tuple(json.loads(meta["features"])),
                                          "not a lung choice classifier")
    if features != FEATURES:
        raise InvalidInputError(f"{file}: the classifier's features {list(features)} are not "
                                f"covidct's lung choice features {list(FEATURES)}")
    return LungChoice(booster=OnnxBooster(file, digest), source=file, sha256=digest, card=card)


def lung_choice_path() -> Path:
    """Path of the shipped classifier (it may be missing in a broken installation)."""
    return Path(str(resources.files("covidct") / "data" / "models" / CHOICE_FILE))


def load_lung_choice(path: str | Path | None = None) -> LungChoice:
    """Load a lung choice classifier (default: the shipped one), checked against its card.

    Raises:
        DataUnavailableError: the file is missing.
        InvalidInputError: the file is damaged, not a LightGBM model on :data:`FEATURES`, or
            does not match its card's sha256.
    """
    file = existing_model_file(path, lung_choice_path(), "lung choice classifier",
                               "covidct train lung-choice")
    return _load(*model_version(file))
