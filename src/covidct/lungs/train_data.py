"""Training slices of the lung model, with exact lung labels, cached once as ``.npz`` files.

Two sources, both made by the project's own code:

* phantom cases (:func:`covidct.phantom.simulate_case`; their lung labels are exact), half of
  them with extra dense disease up to white lung painted in (:func:`covidct.phantom.paint_into`);
* real CTs with clear lungs, as they are and with simulated disease painted in; their label
  is the clear CT's ``segment_lungs`` mask (the rules are right on most clear lungs), or the
  lung labels beside the CT (:func:`lung_label_file`) where it has them;
* deformed variants of those real CTs (:func:`covidct.lungs.train_augment.deformed_variant`:
  3D scale / rotation / warp with the labels, thicker body, enhanced mediastinum, disease
  painted into the deformed lungs at 25-85 % involvement).

Each example is stored on the model grid (:func:`covidct.lungs.model_grid.to_model_grid`): HU
int16 ``(z, canvas, canvas)``, lung fraction uint8 (0-255) ``(z, canvas, canvas)`` and the
neighbour step in slices.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from covidct.io.layout import Layout
from covidct.io.volume import CTVolume
from covidct.lungs.model_grid import NEIGHBOUR_MM, to_model_grid

__all__ = ["LUNG_LABEL_SUFFIX", "Example", "deformed_examples", "example_from_volume", "load_examples",
           "lung_label_file", "phantom_example", "read_labelled_ct", "real_ct_files", "real_examples", "source_name"]

_CT_SUFFIXES = (".nrrd", ".nii", ".nii.gz", ".mha", ".mhd")

#: version of the deformed variants' recipe, in their cache file names
_DEFORM_TAG = "d1"

log = logging.getLogger(__name__)

#: painted findings of the training variants: (diagnosis, involved share range, consolidated share range)
_PAINT_DRAWS = (("covid", (0.15, 0.6), (0.1, 0.6)), ("covid", (0.5, 0.95), (0.4, 1.0)),
                ("pneumonia", (0.15, 0.7), (0.5, 1.0)))


@dataclass(frozen=True, eq=False)
class Example:
    """One training volume on the model grid: HU (z, c, c) int16, lung fraction (z, c, c)
    uint8 0-255, neighbour step (slices), and its name."""

    hu: np.ndarray
    lung: np.ndarray
    step: int
    name: str


def example_from_volume(volume: CTVolume, lungs: np.ndarray, name: str, *, pixel_mm: float,
                        canvas: int) -> Example:
    """Resample a CT and its lung mask to the model grid, laid as the network reads a scan
    (:class:`~covidct.io.layout.Layout`: a NIfTI in RAS is flipped, a reformat transposed)."""
    layout = Layout.of(volume.direction)
    array, lungs = (layout.lay(a) for a in (volume.array, np.asarray(lungs)))
    sz, sy, sx = layout.lay_spacing(volume.spacing)
    hu, _ = to_model_grid(array, (sy, sx), pixel_mm=pixel_mm, canvas=canvas, fill=-1024.0)
    lab, _ = to_model_grid((lungs > 0).astype(np.float32), (sy, sx), pixel_mm=pixel_mm,
                           canvas=canvas, fill=0.0)
    step = max(1, int(round(NEIGHBOUR_MM / sz)))
    return Example(hu=hu.round().clip(-1024, 3071).astype(np.int16),
                   lung=(lab.clip(0, 1) * 255).round().astype(np.uint8), step=step, name=name)


def _paint(volume: CTVolume, lungs: np.ndarray, seed: int) -> CTVolume:
    from covidct.phantom import paint_into

    rng = np.random.default_rng(seed)
    diagnosis, frac, cons = _PAINT_DRAWS[seed % len(_PAINT_DRAWS)]
    sick, _ = paint_into(volume, lungs, diagnosis=diagnosis, fraction=float(rng.uniform(*frac)),
                         consolidation_share=float(rng.uniform(*cons)), seed=seed)
    return sick


def phantom_example(seed: int, *, size: str, pixel_mm: float, canvas: int) -> Example:
    """Phantom case ``seed`` (control / pneumonia / COVID by ``seed % 3``); odd seeds get extra
    dense disease painted in (seed-drawn, up to 95 % of the lung, up to all consolidation)."""
    from covidct.phantom import simulate_case

    case = simulate_case(seed, diagnosis=("control", "pneumonia", "covid")[seed % 3], size=size)
    volume = _paint(case.volume, case.lungs, seed) if seed % 2 else case.volume
    return example_from_volume(volume, case.lungs, f"phantom-{seed}", pixel_mm=pixel_mm, canvas=canvas)


def _stem(path: str | Path) -> str:
    return Path(path).name.split("_")[0].split(".")[0]


#: name of a CT's own lung labels beside it: ``<stem>_lungmask.<suffix>`` (1 right, 2 left)
LUNG_LABEL_SUFFIX = "_lungmask"


def lung_label_file(path: str | Path) -> Path | None:
    """The lung labels shipped beside CT ``path`` (``<stem>_lungmask`` with the CT's own file
    suffix), or None when there are none."""
    path = Path(path)
    suffix = path.name[len(path.name.split(".")[0]):]  # ".nrrd", ".nii.gz", ...
    file = path.with_name(f"{_stem(path)}{LUNG_LABEL_SUFFIX}{suffix}")
    return file if file.is_file() else None


def source_name(path: str | Path, volume: CTVolume, lungs: np.ndarray) -> str:
    """Name of a real CT's examples (and their cache files): its stem and a digest of its voxels,
    grid and lung labels. Examples made from other labels (a labels file, or the rules' mask
    before the rules changed) are never reused from a shared cache."""
    digest = hashlib.sha256()
    for part in (volume.array, np.asarray(volume.spacing, np.float64), np.asarray(volume.direction, np.float64),
                 np.asarray(lungs, np.uint8)):
        digest.update(np.ascontiguousarray(part).tobytes())
    return f"{_stem(path)}-{digest.hexdigest()[:12]}"


def read_labelled_ct(path: str | Path) -> tuple[CTVolume, np.ndarray]:
    """The CT and its lung labels: the labels file beside it (:func:`lung_label_file`) when
    there is one, else the rules' ``segment_lungs(method="refined")`` mask."""
    from covidct.errors import InvalidInputError
    from covidct.io import read_ct, read_mask
    from covidct.lungs.segment import segment_lungs
    from covidct.lungs.split import LEFT, RIGHT

    volume = read_ct(path)
    file = lung_label_file(path)
    if file is None:
        return volume, segment_lungs(volume, method="refined")
    labels = read_mask(file, volume)
    if not set(np.unique(labels).tolist()) <= {0, RIGHT, LEFT} or not labels.any():
        raise InvalidInputError(f"{file}: lung labels must be 0 (not lung), {RIGHT} (right) and {LEFT} (left); "
                                f"got values {np.unique(labels)[:8].tolist()}")
    return volume, labels


def real_ct_files(data: str | Path, exclude: Iterable[str] = ()) -> list[Path]:
    """The CT files of the folder ``data`` (files whose name holds "label" or "mask" are
    skipped), minus those whose name (stem before "_" or ".") is in ``exclude``.

    Raises:
        InvalidInputError: ``data`` is not a folder, or no CT is left.
    """
    from covidct.errors import InvalidInputError

    folder, exclude = Path(data), set(exclude)
    if not folder.is_dir():
        raise InvalidInputError(f"lung training data {folder} is not a folder of CTs")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.name.lower().endswith(_CT_SUFFIXES)
                   and not any(w in p.name.lower() for w in ("label", "mask")))
    keep = [p for p in files if _stem(p) not in exclude]
    if not keep:
        raise InvalidInputError(f"{folder}: no CT left for training (found {[p.name for p in files]}, "
                                f"excluded {sorted(exclude)})")
    return keep


def real_examples(path: str | Path, paint_seeds: Iterable[int], *, clear: bool, pixel_mm: float,
                  canvas: int, labelled: tuple[CTVolume, np.ndarray] | None = None) -> list[Example]:
    """A real clear-lung CT (when ``clear``) and one painted variant per seed; label: its lung
    labels (:func:`read_labelled_ct`; ``labelled``: the CT and those labels, if already read)."""
    volume, lungs = labelled or read_labelled_ct(path)
    stem = source_name(path, volume, lungs)
    out = [example_from_volume(volume, lungs, f"{stem}-clear", pixel_mm=pixel_mm, canvas=canvas)] if clear else []
    for seed in paint_seeds:
        out.append(example_from_volume(_paint(volume, lungs, seed), lungs, f"{stem}-paint{seed}",
                                       pixel_mm=pixel_mm, canvas=canvas))
    return out


def deformed_examples(path: str | Path, seeds: Iterable[int], *, pixel_mm: float, canvas: int,
                      labelled: tuple[CTVolume, np.ndarray] | None = None) -> list[Example]:
    """One deformed (and mostly painted) variant of a real clear-lung CT per seed, with its lung
    labels (:func:`read_labelled_ct`) deformed alike as label."""
    from covidct.lungs.train_augment import deformed_variant

    volume, lungs = labelled or read_labelled_ct(path)
    stem, out = source_name(path, volume, lungs), []
    for seed in seeds:
        vol, lab = deformed_variant(volume, lungs, seed, pixel_mm=pixel_mm)
        out.append(example_from_volume(vol, lab, f"{stem}-{_DEFORM_TAG}-{seed}", pixel_mm=pixel_mm, canvas=canvas))
    return out


def _save(example: Example, file: Path) -> None:
    """Write ``file`` through a temporary name of this process (runs may share a cache)."""
    tmp = file.with_name(f"{file.name}.{os.getpid()}.part.npz")
    np.savez_compressed(tmp, hu=example.hu, lung=example.lung, step=example.step)
    os.replace(tmp, file)


def _read(file: Path, name: str) -> Example:
    with np.load(file) as z:
        return Example(hu=z["hu"], lung=z["lung"], step=int(z["step"]), name=name)


def load_examples(cache: Path, phantom_seeds: Iterable[int],
                  real: Iterable[tuple[str, tuple[int, ...], bool, tuple[int, ...]]],
                  *, size: str, pixel_mm: float, canvas: int,
                  labelled: Mapping[str, tuple[CTVolume, np.ndarray]] | None = None) -> list[Example]:
    """The examples, from ``cache`` when there, else made and cached.

    ``real``: (CT path, paint seeds, include the clear CT, deformation seeds) per real CT;
    ``labelled``: each CT and its lung labels by path, if already read (:func:`read_labelled_ct`).
    Cache file names carry the grid (pixel size, canvas), phantom size and, for real CTs,
    :func:`source_name`, so other settings and other labels never mix.
    """
    key = f"{size}-{pixel_mm:g}mm-{canvas}"
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for seed in phantom_seeds:
        file = cache / f"phantom-{seed}-{key}.npz"
        if not file.is_file():
            _save(phantom_example(seed, size=size, pixel_mm=pixel_mm, canvas=canvas), file)
        out.append(_read(file, f"phantom-{seed}"))
    for path, seeds, clear, deform_seeds in real:
        volume, lungs = (labelled or {}).get(path) or read_labelled_ct(path)
        stem = source_name(path, volume, lungs)
        names = ([f"{stem}-clear"] if clear else []) + [f"{stem}-paint{s}" for s in seeds]
        names += [f"{stem}-{_DEFORM_TAG}-{s}" for s in deform_seeds]
        have = {n for n in names if (cache / f"{n}-{key}.npz").is_file()}
        missing = [s for s in seeds if f"{stem}-paint{s}" not in have]
        missing_deform = [s for s in deform_seeds if f"{stem}-{_DEFORM_TAG}-{s}" not in have]
        need_clear = clear and f"{stem}-clear" not in have
        if missing or need_clear or missing_deform:
            log.info("%s: painting %d variants, deforming %d", path, len(missing), len(missing_deform))
            grid = {"pixel_mm": pixel_mm, "canvas": canvas, "labelled": (volume, lungs)}
            made = real_examples(path, missing, clear=need_clear, **grid) if missing or need_clear else []
            for ex in made + deformed_examples(path, missing_deform, **grid):
                _save(ex, cache / f"{ex.name}-{key}.npz")
        out.extend(_read(cache / f"{n}-{key}.npz", n) for n in names)
    return out
