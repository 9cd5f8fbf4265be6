"""The lung network at run time: its probability on a CT, from the shipped ONNX file.

The shipped 2.5D network (``covidct/data/models/lung-unet.onnx``, exported from
``lung-unet.pt`` by :func:`covidct.lungs.learned.export_onnx`) runs in ONNX Runtime on the
CPU, so that segmenting a scan imports no torch (seconds of start-up). Its settings are in
the file's metadata, its sha256 in the ``.pt``'s model card (``onnx_sha256``). A ``.pt``
file (a network trained with ``covidct train lungs-unet*``, the 3D network, or the
shipped ``.pt`` to run on CUDA) is run by torch (:mod:`covidct.lungs.learned`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from scipy.special import expit

from covidct.errors import InvalidInputError
from covidct.lungs.model_grid import (
    NEIGHBOUR_MM,
    from_model_grid,
    interpolate_z,
    neighbour_stack,
    scale_hu,
    to_model_grid,
)
from covidct.provenance import (
    checked_card,
    existing_model_file,
    model_version,
    read_card,
    sha256_file,
    write_card,
)

__all__ = [
    "LUNG_MODEL_FILES", "ONNX_FORMAT", "LungNetwork", "OnnxLungModel", "checked_onnx", "finish_export",
    "load_lung_models", "load_onnx_lung_model", "lung_model_path", "lung_model_paths", "onnx_session",
    "predict_lung_probability",
]

#: the shipped lung model: the networks whose probabilities are averaged (ONNX, run on the CPU).
LUNG_MODEL_FILES = ("lung-unet.onnx",)
#: ``format`` of a lung network's ONNX metadata.
ONNX_FORMAT = "covidct-lung-unet-onnx/1"
_BATCH = 32
_T = TypeVar("_T")  # what checked_onnx reads from a model's metadata
_REMEDY = "reinstall covidct, or export the .pt again (covidct.lungs.learned.export_onnx)"


class LungNetwork(Protocol):
    """What :func:`predict_lung_probability` needs of a network (ONNX or torch)."""

    pixel_mm: float
    canvas: int
    hu_window: tuple[float, float]
    context: tuple[int, ...]

    @property
    def is_3d(self) -> bool: ...

    def slice_logits(self, x: np.ndarray, *, device: str | None, threads: int | None) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class OnnxLungModel:
    """A 2.5D lung network in ONNX: ``(n, channels, canvas, canvas)`` scaled HU ->
    ``(n, 1, canvas, canvas)`` lung logits, with its input settings (as
    :class:`covidct.lungs.learned.LungModel`), file, sha256 and model card."""

    source: Path
    pixel_mm: float
    canvas: int
    hu_window: tuple[float, float]
    context: tuple[int, ...]
    sha256: str = ""
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def is_3d(self) -> bool:
        """Always False: only the 2.5D network is exported."""
        return False

    def slice_logits(self, x: np.ndarray, *, device: str | None = None, threads: int | None = None) -> np.ndarray:
        """The network's logits for the batch ``x`` (float32), on ``threads`` CPU threads
        (default ONNX Runtime's: one per core).

        Raises:
            InvalidInputError: a device other than the CPU.
        """
        if device not in (None, "cpu"):
            raise InvalidInputError(f"{self.source.name} runs on the CPU; for {device} load the .pt beside it")
        session = onnx_session(str(self.source), self.sha256, threads or 0)
        return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)})[0]


@functools.lru_cache(maxsize=8)
def onnx_session(path: str, sha256: str, threads: int) -> Any:
    """An ONNX Runtime CPU session of the ONNX file ``path`` (``threads`` 0: its default), one
    per file version (``sha256``) and thread count; warnings not logged."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def finish_export(tmp: Path, path: Path, gap: float, tolerance: float, export: dict[str, Any], *,
                  card_of: Path | None = None) -> Path:
    """Move the ONNX export ``tmp`` to ``path`` when ``gap`` (its largest difference from the
    original model, ``export["checked"]`` says on what) is at most ``tolerance``; with
    ``card_of`` (the original model's file), write the export's sha256 (``onnx_sha256``) and
    ``export`` with the gap (``onnx_export``) into that file's card.

    Raises:
        InvalidInputError: a larger gap (``tmp`` is removed).
    """
    onnx_session.cache_clear()  # sessions of ``tmp``
    if not gap <= tolerance:
        tmp.unlink()
        raise InvalidInputError(f"the ONNX export {path.name} differs by {gap:.2g} from the model it was "
                                f"exported from (> {tolerance}; {export['checked']})")
    tmp.replace(path)
    if card_of is not None:
        write_card(card_of, {**read_card(card_of), "onnx_sha256": sha256_file(path), "onnx_export": {**export, "max_gap": gap}})
    return path


def lung_model_path(name: str = LUNG_MODEL_FILES[0]) -> Path:
    """Path of a shipped lung network file (it may be missing in a broken installation)."""
    return Path(str(resources.files("covidct") / "data" / "models" / name))


def lung_model_paths() -> list[Path]:
    """Paths of the shipped lung model's networks (:data:`LUNG_MODEL_FILES`)."""
    return [lung_model_path(name) for name in LUNG_MODEL_FILES]


def checked_onnx(file: Path, kind: str, remedy: str, fmt: str, read: Callable[[dict[str, str]], _T],
                 not_a: str) -> tuple[_T, str, dict[str, Any]]:
    """An ONNX model file checked: its sha256 against its card's ``onnx_sha256``, its session
    opened, its metadata of format ``fmt`` read by ``read``. Returns (``read``'s value, the
    sha256, the card).

    Raises:
        InvalidInputError: a sha256 the card does not name (``kind``, ``remedy``: for the
            message), or a file that ONNX Runtime cannot open, of another format, or whose
            metadata ``read`` refuses ("FILE: ``not_a``: why").
    """
    card, digest = checked_card(file, kind, remedy, key="onnx_sha256")
    try:
        meta = onnx_session(str(file), digest, 1).get_modelmeta().custom_metadata_map
        if meta.get("format") != fmt:
            raise ValueError(f"format {meta.get('format')!r}, not {fmt!r}")
        return read(meta), digest, card
    except Exception as exc:  # ONNX Runtime's own errors (a damaged file) have no common base
        raise InvalidInputError(f"{file}: {not_a}: {str(exc).splitlines()[0]}") from exc


@functools.lru_cache(maxsize=4)
def _load_onnx(path: str, mtime_ns: int, card_mtime_ns: int) -> OnnxLungModel:
    file = Path(path)
    settings, digest, card = checked_onnx(file, "lung model", _REMEDY, ONNX_FORMAT, _settings, "not a usable lung model")
    return OnnxLungModel(source=file, sha256=digest, card=card, **settings)


def _settings(meta: dict[str, str]) -> dict[str, Any]:
    """The input settings of a lung network's ONNX metadata."""
    return {"pixel_mm": float(meta["pixel_mm"]), "canvas": int(meta["canvas"]),
            "hu_window": tuple(json.loads(meta["hu_window"])),
            "context": tuple(int(k) for k in json.loads(meta["context"]))}


def load_onnx_lung_model(path: str | Path | None = None) -> OnnxLungModel:
    """Load an ONNX lung network (default: the shipped one), checked against the sha256 its
    card names (``onnx_sha256``).

    Raises:
        DataUnavailableError: the file is missing.
        InvalidInputError: the file is damaged, not a lung network, or does not match its card.
    """
    file = existing_model_file(path, lung_model_path(), "lung model", "covidct.lungs.learned.export_onnx")
    return _load_onnx(*model_version(file))


def load_lung_models(spec: str | Path | None = None) -> tuple[LungNetwork, ...]:
    """The networks of a lung model: ``spec`` is one file or several joined by "+" (their
    probabilities are averaged), ``.onnx`` files run by ONNX Runtime and ``.pt`` ones by
    torch; default the shipped ones (:data:`LUNG_MODEL_FILES`).

    Raises:
        DataUnavailableError, InvalidInputError: a file is missing, damaged or not a lung model.
    """
    files = lung_model_paths() if spec is None else [Path(p) for p in str(spec).split("+")]
    return tuple(_load_file(f) for f in files)


def _load_file(file: Path) -> LungNetwork:
    if file.suffix == ".onnx":
        return load_onnx_lung_model(file)
    from covidct.lungs.learned import load_lung_model  # torch, imported only for a .pt file

    return load_lung_model(file)


def _predict_slices(net: LungNetwork, hu: np.ndarray, step: int, device: str | None,
                    threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5D network on every ``step``-th canvas slice (and the last) of the canvas HU:
    (probabilities, slice indices)."""
    n, hu = hu.shape[0], scale_hu(hu, net.hu_window)
    zs = np.unique(np.r_[np.arange(0, n, step), n - 1])
    probs = [net.slice_logits(neighbour_stack(hu, zs[i:i + _BATCH], step, net.context), device=device,
                              threads=threads)[:, 0] for i in range(0, len(zs), _BATCH)]
    return expit(np.concatenate(probs)).astype(np.float32), zs


def predict_lung_probability(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    model: LungNetwork | Sequence[LungNetwork] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Lung probability of every voxel of an axial CT.

    Args:
        volume: ``(z, y, x)`` HU array (axial slices), laid as a DICOM axial series (feet to
            head, front to back, patient right to left; ``network_pass`` flips other scans,
            :class:`~covidct.io.layout.Layout`).
        spacing: ``(sz, sy, sx)`` in mm.
        model: a network (:func:`load_lung_models`), or several whose probabilities are
            averaged; default the shipped model.
        device: the device of a torch network ("cpu", "cuda"; default CUDA when available);
            an ONNX network runs on the CPU.
        threads: CPU threads for this call (default: the runtime's setting).
    Returns:
        float32 ``(z, y, x)`` probability in [0, 1] on the input grid.
    """
    arr = np.asarray(volume)
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InvalidInputError(f"lung model needs a 3D (z, y, x) HU volume; got shape {arr.shape}")
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InvalidInputError(f"spacing must be 3 positive numbers (sz, sy, sx) in mm; got {spacing}")
    nets = load_lung_models() if model is None else tuple(model) if isinstance(model, Sequence) else (model,)
    step = max(1, int(round(NEIGHBOUR_MM / float(spacing[0]))))
    grids: dict[tuple[float, int], tuple[np.ndarray, Any]] = {}
    total = np.zeros(arr.shape, np.float32)
    for net in nets:
        key = (net.pixel_mm, net.canvas)
        if key not in grids:
            grids[key] = to_model_grid(arr, (spacing[1], spacing[2]), pixel_mm=net.pixel_mm, canvas=net.canvas,
                                       fill=-1024.0)
        hu, geo = grids[key]
        if net.is_3d:
            p = net.volume_probability(hu, float(spacing[0]), device=device, threads=threads)  # type: ignore[attr-defined]
        else:
            p = interpolate_z(*_predict_slices(net, hu, step, device, threads), arr.shape[0])
        total += from_model_grid(p, geo)
    return np.clip(total / len(nets), 0.0, 1.0, out=total)
