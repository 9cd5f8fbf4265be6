"""Radiomic features with pyradiomics, prepared once and computed in parallel.

:func:`extract_radiomics` gives exactly the values of pyradiomics'
``RadiomicsFeatureExtractor.execute`` for the same settings (same functions, same order of
operations), but faster:

* the image and mask are loaded, normalised and resampled **once** (a plain pyradiomics run
  of a preset whose classes differ per image type needs one extractor, hence one
  resampling, per class set);
* each derived image (original, 8 wavelet sub-bands...) is cropped once and its grey-level
  discretisation (``binImage``, a large share of the per-class cost) is computed once and
  shared by all feature classes of that image;
* with ``workers > 1`` each (image, feature classes) job runs in a process forked when the
  job is ready, so it inherits the image instead of receiving a copy, while this process
  derives the next images (and computes a job itself whenever every worker is busy).

Nothing of pyradiomics is re-implemented: the feature classes, ``loadImage``, ``checkMask``,
``get<Type>Image`` and ``cropToTumorMask`` are pyradiomics' own.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from covidct.errors import CovidCTError, InvalidInputError
from covidct.features.presets import RadiomicsPreset, resolve_preset
from covidct.io.volume import CTVolume, check_same_grid

__all__ = ["extract_radiomics", "extract_radiomics_reference", "feature_names", "paper_columns"]

log = logging.getLogger(__name__)

# A forked worker inherits pyradiomics, the image and the derived images: nothing to send.
_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()

#: GLSZM features whose class-less names clash with GLRLM ones (the paper's 378 -> 375).
PAPER_OVERWRITTEN: tuple[str, ...] = (
    "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
)


# --------------------------------------------------------------------------- helpers
def _roi_images(volume: CTVolume, mask: np.ndarray, label: int | None) -> tuple[sitk.Image, sitk.Image]:
    check_same_grid(volume, mask)
    mask = np.asarray(mask)
    roi = mask > 0 if label is None else mask == label
    if not roi.any():
        what = "any lung label" if label is None else f"label {label}"
        src = volume.metadata.get("source_path", "")
        raise InvalidInputError(f"the mask has no voxel of {what}{f' ({src})' if src else ''}")
    image = volume.to_sitk(np.asarray(volume.array, np.float32) if volume.array.dtype == np.float16
                           else volume.array)
    return image, volume.to_sitk(roi.astype(np.uint8))


def _scalar(value: Any) -> float:
    arr = np.asarray(value)
    return float(np.real(arr.reshape(-1)[0])) if arr.size else float("nan")


@dataclass(frozen=True)
class _Job:
    """One derived image (cropped to the ROI) and the feature classes to compute on it."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    geometry: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
    classes: tuple[tuple[str, tuple[str, ...] | None], ...]
    kwargs: Mapping[str, Any]


def _to_image(array: np.ndarray, geometry: tuple[tuple[float, ...], ...]) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(geometry[0])
    img.SetOrigin(geometry[1])
    img.SetDirection(geometry[2])
    return img


def _array_extreme(builtin: Any) -> Any:
    """``builtin`` (min or max) that reduces a 1-D float array in C instead of element by element.

    pyradiomics' ``getBinEdges`` calls the builtin ``min``/``max`` on the ROI's grey values
    (millions of numpy scalars compared in Python, about 0.2 s per image); the array
    reduction returns the same element. With NaN (where the builtin's answer depends on
    the order) or anything else it defers to the builtin.
    """

    def extreme(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and isinstance(args[0], np.ndarray) and args[0].ndim == 1:
            value = args[0].min() if builtin is min else args[0].max()
            if not np.isnan(value):
                return value
        return builtin(*args, **kwargs)

    return extreme


def _sharing_binning(cls: type, cache: dict[str, Any]) -> type:
    """``cls`` with its grey-level discretisation computed once and shared through ``cache``.

    All pyradiomics feature classes discretise the same array (the image's grey values in
    the ROI) with the same settings, so every class of one image gets the first result,
    read-only (no class writes into it).
    """
    from radiomics import imageoperations

    class SharedBinning(cls):  # type: ignore[misc, valid-type]
        def _applyBinning(self, matrix: np.ndarray) -> np.ndarray:
            if "matrix" not in cache:
                imageoperations.min, imageoperations.max = _array_extreme(min), _array_extreme(max)
                try:
                    binned = super()._applyBinning(matrix)
                finally:
                    del imageoperations.min, imageoperations.max
                binned.flags.writeable = False
                cache["matrix"] = binned
                cache["coefficients"] = {k: self.coefficients[k] for k in ("grayLevels", "Ng")}
                return binned
            self.coefficients.update(cache["coefficients"])
            return cache["matrix"]

    SharedBinning.__name__ = cls.__name__
    return SharedBinning


def _run_job(job: _Job) -> dict[str, float]:
    """Compute the job's feature classes exactly as ``RadiomicsFeatureExtractor.computeFeatures``."""
    from radiomics import getFeatureClasses

    image = _to_image(job.image, job.geometry)
    mask = _to_image(job.mask, job.geometry)
    feature_classes = getFeatureClasses()
    cache: dict[str, Any] = {}
    out: dict[str, float] = {}
    for class_name, names in job.classes:
        instance = _sharing_binning(feature_classes[class_name], cache)(image, mask, **job.kwargs)
        if names is not None:
            for name in names:
                instance.enableFeatureByName(name)
        for name, value in instance.execute().items():
            out[f"{job.name}_{class_name}_{name}"] = _scalar(value)
    return out


def _jobs(image: sitk.Image, mask: sitk.Image, bbox: Any, preset: RadiomicsPreset,
          settings: dict[str, Any]) -> Iterator[_Job]:
    """Derived images of every enabled image type, cropped, as jobs (lazily, in order)."""
    from radiomics import imageoperations

    for image_type, custom in preset.image_types.items():
        classes = tuple((c, n) for c, n in preset.classes[image_type].items()
                        if not c.startswith("shape"))
        if not classes:
            continue
        args = {**settings, **custom}
        getter = getattr(imageoperations, f"get{image_type}Image", None)
        if getter is None:
            raise InvalidInputError(f"unknown pyradiomics image type {image_type!r}")
        for derived, name, kwargs in getter(image, mask, **args):
            cropped, cropped_mask = imageoperations.cropToTumorMask(derived, mask, bbox, padDistance=0)
            geometry = (cropped.GetSpacing(), cropped.GetOrigin(), cropped.GetDirection())
            arr = sitk.GetArrayFromImage(cropped)
            marr = sitk.GetArrayFromImage(cropped_mask)
            yield _Job(name, arr, marr, geometry, classes, dict(kwargs))


def _shape_features(image: sitk.Image, mask: sitk.Image, bbox: Any, preset: RadiomicsPreset,
                    settings: dict[str, Any]) -> dict[str, float]:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    wanted = {c: (list(n) if n is not None else []) for t in preset.image_types
              for c, n in preset.classes[t].items() if c.startswith("shape")}
    if not wanted:
        return {}
    extractor = RadiomicsFeatureExtractor(**settings)
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(**wanted)
    return {k: _scalar(v) for k, v in extractor.computeShape(image, mask, bbox, **settings).items()}


def _keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of mapping fresh zeroed pages each time.

    The feature classes allocate and free many arrays of tens of MB; by default each one is
    a new ``mmap`` whose page faults cost a sizeable share of the run. Called only in the
    short-lived forked workers, which give all their memory back when they exit.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: 1 GiB
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD: never trim
    except (OSError, AttributeError):  # not glibc
        pass


def _child(job: _Job, conn: multiprocessing.connection.Connection) -> None:
    """Worker process body: compute one job and send back its features (or the error)."""
    _keep_freed_memory()
    try:
        conn.send(("ok", _run_job(job)))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the parent
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 - an unpicklable exception
            conn.send(("error", RuntimeError(repr(exc))))
    finally:
        conn.close()


def _receive(name: str, proc: Any, conn: multiprocessing.connection.Connection) -> dict[str, float]:
    try:
        status, payload = conn.recv()
    except EOFError:
        proc.join()
        raise CovidCTError(
            f"the radiomics worker for {name} stopped without a result (exit code "
            f"{proc.exitcode}; out of memory?); try workers=1") from None
    finally:
        conn.close()
    proc.join()
    if status == "error":
        raise payload
    return payload


def _run_parallel(jobs: Iterator[_Job], workers: int) -> dict[str, float]:
    """Run jobs in up to ``workers`` forked processes, this one helping; results in job order.

    Each job gets a process forked as soon as the job's image is derived (the generator
    computes the wavelet sub-bands lazily), so the original image's features are computed
    while this process decomposes the image, and no array is ever pickled. When every worker
    is busy this process computes the next job itself, so no core idles at the end.
    """
    ctx = multiprocessing.get_context("fork")
    results: list[dict[str, float] | None] = []
    running: dict[int, tuple[str, Any, multiprocessing.connection.Connection]] = {}
    try:
        for job in jobs:
            while len(running) >= workers:
                ready = multiprocessing.connection.wait([c for _, _, c in running.values()])
                for i in [i for i, (_, _, conn) in running.items() if conn in ready]:
                    results[i] = _receive(*running.pop(i))
            receiver, sender = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(job, sender), daemon=True)
            proc.start()
            sender.close()
            running[len(results)] = (job.name, proc, receiver)
            results.append(None)
        for i in list(running):
            results[i] = _receive(*running.pop(i))
    finally:
        for _, proc, conn in running.values():
            proc.terminate()
            conn.close()
    out: dict[str, float] = {}
    for r in results:  # in job order = pyradiomics' order
        out.update(r or {})
    return out


# ------------------------------------------------------------------------ public API
def extract_radiomics(
    volume: CTVolume,
    mask: np.ndarray,
    *,
    preset: str | RadiomicsPreset = "covid-mtl",
    params: str | Path | None = None,
    label: int | None = None,
    workers: int = 1,
) -> pd.Series:
    """Radiomic features of the region ``mask`` of a CT volume.

    Args:
        volume: the CT (HU, any spacing; ``(z, y, x)``).
        mask: ``(z, y, x)`` label array on the volume's grid (e.g. 1 right, 2 left lung).
        preset: preset name or object (see :data:`covidct.features.presets.RADIOMICS_PRESETS`).
        params: optional pyradiomics YAML parameter file applied on top of the preset.
        label: the mask label to use; ``None`` merges every non-zero label.
        workers: processes computing the feature classes (1 = in this process; needs the
            ``fork`` start method, so Windows always uses 1).

    Returns:
        Feature name (full pyradiomics name, e.g. ``wavelet-LLH_glrlm_RunEntropy``) -> value,
        in pyradiomics' order; values equal ``RadiomicsFeatureExtractor.execute``'s.
    """
    from radiomics import imageoperations
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidInputError(f"workers must be a positive integer; got {workers!r}")
    spec = resolve_preset(preset, params)
    settings = {**spec.settings, "label": 1}
    image, roi = _roi_images(volume, mask, label)
    try:
        image, roi = RadiomicsFeatureExtractor.loadImage(image, roi, None, **settings)
        bbox, corrected = imageoperations.checkMask(image, roi, **settings)
        if corrected is not None:
            roi = corrected
        if settings.get("resegmentRange") is not None:
            roi = imageoperations.resegmentMask(image, roi, **settings)
            bbox, _ = imageoperations.checkMask(image, roi, **settings)
    except ValueError as exc:
        raise InvalidInputError(f"pyradiomics rejected the image/mask: {exc}") from exc
    if bbox is None:
        raise InvalidInputError("pyradiomics found no valid region in the mask (too small or flat)")

    features: dict[str, float] = _shape_features(image, roi, bbox, spec, settings)
    jobs = _jobs(image, roi, bbox, spec, settings)
    if workers > 1 and _CAN_FORK:
        features.update(_run_parallel(jobs, int(workers)))
    else:
        for job in jobs:
            features.update(_run_job(job))
    return pd.Series(features, dtype=float, name=volume.metadata.get("case_id"))


def extract_radiomics_reference(
    volume: CTVolume,
    mask: np.ndarray,
    *,
    preset: str | RadiomicsPreset = "covid-mtl",
    params: str | Path | None = None,
    label: int | None = None,
) -> pd.Series:
    """The same features from plain ``RadiomicsFeatureExtractor.execute`` calls (reference).

    One extractor per distinct set of feature classes (pyradiomics enables the same classes
    for every image type), each with its own loading and resampling. Slow; for checks and
    benchmarks.
    """
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    spec = resolve_preset(preset, params)
    settings = {**spec.settings, "label": 1}
    image, roi = _roi_images(volume, mask, label)
    groups: dict[tuple, list[str]] = {}
    for image_type in spec.image_types:
        key = tuple(sorted((c, n) for c, n in spec.classes[image_type].items()))
        groups.setdefault(key, []).append(image_type)
    out: dict[str, float] = {}
    for key, types in groups.items():
        extractor = RadiomicsFeatureExtractor(**{**settings, "additionalInfo": False})
        extractor.disableAllImageTypes()
        for t in types:
            extractor.enableImageTypeByName(t, customArgs=dict(spec.image_types[t]))
        extractor.disableAllFeatures()
        extractor.enableFeaturesByName(**{c: (list(n) if n is not None else []) for c, n in key})
        out.update({k: _scalar(v) for k, v in extractor.execute(image, roi).items()
                    if not k.startswith("diagnostics")})
    return pd.Series(out, dtype=float)


def feature_names(preset: str | RadiomicsPreset = "covid-mtl") -> list[str]:
    """The feature names a preset gives (without running it; derived images as pyradiomics names them)."""
    from radiomics import getFeatureClasses

    spec = resolve_preset(preset, None)
    classes = getFeatureClasses()
    names: list[str] = []
    for image_type in spec.image_types:
        if image_type == "Original":
            images = ["original"]
        elif image_type == "Wavelet":
            images = [f"wavelet-{s}" for s in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")]
        else:
            continue
        for image in images:
            for cls, wanted in spec.classes[image_type].items():
                if cls.startswith("shape"):
                    continue
                all_names = [n for n, dep in classes[cls].getFeatureNames().items() if not dep]
                for n in (wanted if wanted is not None
                          else sorted(all_names, key=lambda n: f"get{n}FeatureValue")):
                    names.append(f"{image}_{cls}_{n}")
    return names


def paper_columns(features: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """The COVID-MTL paper's view of the features: class prefix dropped, later names win.

    ``original_glcm_Contrast`` becomes ``original_Contrast``; where two classes of one image
    share a feature name, the later one (in column order) overwrites the earlier, as the
    paper's code did: the GLSZM GrayLevelNonUniformity, GrayLevelNonUniformityNormalized and
    GrayLevelVariance of the original image replace their GLRLM namesakes, so the 378
    ``covid-mtl`` features become 375. Columns that are not radiomic features are kept.
    """
    labels = list(features.index if isinstance(features, pd.Series) else features.columns)
    target: dict[str, Any] = {}
    for col in labels:
        parts = str(col).split("_", 2)
        is_feature = len(parts) == 3 and (parts[0] == "original" or parts[0].startswith(
            ("wavelet", "log-", "square", "exponential", "logarithm", "gradient", "lbp")))
        short = f"{parts[0]}_{parts[2]}" if is_feature else str(col)
        target[short] = col  # dict keeps the first position, the last source
    if isinstance(features, pd.Series):
        return pd.Series({short: features[col] for short, col in target.items()}, name=features.name)
    out_df = features[list(target.values())].copy()
    out_df.columns = list(target.keys())
    return out_df
