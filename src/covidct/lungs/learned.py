"""The learned lung model: a small 2.5D U-Net on low-resolution axial slices (shipped), and
a low-resolution 3D U-Net that can be trained and averaged with it.

The network sees axial slices as channels: the slice and its neighbours ``k * s`` slices
away on each side, ``s = round(NEIGHBOUR_MM / slice spacing)``, for each ``k`` of the
model's ``context`` (``(1,)``: three slices 5 mm apart), resampled in-plane to ``pixel_mm``
pixels on a ``canvas`` x ``canvas`` square centred on the image centre, HU clipped to
``hu_window`` and scaled to [-1, 1]. It outputs the probability of lung (both lungs,
without the trachea and main bronchi), which is brought back to the CT grid by bilinear
interpolation (in-plane) and linear interpolation between the predicted slices (z). Left /
right labels and airway removal stay with the rules (:mod:`covidct.lungs.split`,
:mod:`covidct.lungs.airways`).

The 3D network (:class:`LungUNet3D`) reads the same canvas average-pooled by ``pool``
in-plane (4 mm pixels) and resampled linearly in z to ``slice_mm`` (5 mm) slices, the
whole scan at once, and its probability comes back to the CT grid the same way.

The trained 2.5D weights ship in the package (``covidct/data/models/lung-unet.pt``) with a
model card beside them (``lung-unet.card.json``: data, command, seed, held-out numbers,
sha256); :func:`load_lung_model` checks a file against its card's sha256, and
:func:`predict_lung_probability` averages the probabilities of the networks it is given
(``A.pt+B.pt`` in :func:`load_lung_models`). The 3D network is not shipped: averaged with
the 2.5D one it lowered scans of the lung bases (docs/validation.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from covidct.errors import InvalidInputError
from covidct.models.files import read_model_dict
from covidct.provenance import checked_card, existing_model_file, write_card

__all__ = [
    "DEFAULT_CONTEXT", "FORMAT", "FORMAT_3D", "LUNG_MODEL_FILE", "LUNG_MODEL_FILES", "NEIGHBOUR_MM",
    "LungModel", "LungUNet", "LungUNet3D", "SliceGeometry", "context_channels", "context_offsets",
    "from_model_grid", "load_lung_model", "load_lung_models", "lung_model_path", "lung_model_paths",
    "neighbour_stack", "predict_lung_probability", "save_lung_model", "to_model_grid",
]

FORMAT = "covidct-lung-unet/1"
FORMAT_3D = "covidct-lung-unet3d/1"
#: file name of the shipped 2.5D lung network inside ``covidct/data/models``.
LUNG_MODEL_FILE = "lung-unet.pt"
#: the shipped lung model: the networks whose probabilities are averaged.
LUNG_MODEL_FILES = (LUNG_MODEL_FILE,)
#: distance (mm) of the nearest neighbour slices given to the network (the unit of ``context``).
NEIGHBOUR_MM = 5.0
#: neighbour distances (multiples of the ``NEIGHBOUR_MM`` step) of model files that do not say.
DEFAULT_CONTEXT = (1,)
_BATCH = 32


class _Block(nn.Sequential):
    """Two 3 x 3 convolutions, each with batch norm and ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


class _UNet(nn.Module):
    """The U-Net both lung networks share: ``block`` per level (each level halves the size),
    the decoder interpolating back to each skip's size; ``(n, c, *size)`` -> ``(n, 1, *size)``."""

    _mode = "bilinear"

    def __init__(self, in_channels: int, features: tuple[int, ...], block: type[nn.Sequential],
                 head: type[nn.Module]) -> None:
        super().__init__()
        self.features = tuple(int(f) for f in features)
        chans = (in_channels, *self.features)
        self.down = nn.ModuleList(block(chans[i], chans[i + 1]) for i in range(len(self.features)))
        self.up = nn.ModuleList(
            block(self.features[i] + self.features[i + 1], self.features[i])
            for i in reversed(range(len(self.features) - 1))
        )
        self.head = head(self.features[0], 1, 1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self._pool(x))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode=self._mode, align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class LungUNet(_UNet):
    """A 2D U-Net: ``(n, in_channels, h, w)`` scaled HU -> ``(n, 1, h, w)`` lung logits.

    ``features``: channels per level (each level halves the size; h and w should be
    divisible by 2 ** (len(features) - 1)).
    """

    def __init__(self, in_channels: int = 3, features: tuple[int, ...] = (8, 16, 32, 64, 128)) -> None:
        super().__init__(in_channels, features, _Block, nn.Conv2d)


class _Block3D(nn.Sequential):
    """Two 3 x 3 x 3 convolutions, each with instance norm and leaky ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )


class LungUNet3D(_UNet):
    """A 3D U-Net: ``(n, 1, z, h, w)`` scaled HU -> ``(n, 1, z, h, w)`` lung logits, any size
    (each level halves it, rounding up; the decoder interpolates back to the skip's size).

    ``features``: channels per level.
    """

    _mode = "trilinear"

    def __init__(self, features: tuple[int, ...] = (8, 16, 32, 64, 96)) -> None:
        super().__init__(1, features, _Block3D, nn.Conv3d)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(x, 2, ceil_mode=True)


@dataclass(frozen=True)
class SliceGeometry:
    """Where the resampled slices sit on the model canvas (pixels of ``pixel_mm``).

    ``shape``: the CT's in-plane ``(y, x)``; ``scaled``: its size at ``pixel_mm``;
    ``offset``: canvas position of the scaled image's corner (negative = cropped).
    """

    shape: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    canvas: int


def _geometry(shape: tuple[int, int], spacing_yx: tuple[float, float], pixel_mm: float,
              canvas: int) -> SliceGeometry:
    scaled = tuple(max(1, int(round(n * s / pixel_mm))) for n, s in zip(shape, spacing_yx))
    offset = tuple((canvas - n) // 2 for n in scaled)
    return SliceGeometry(shape=tuple(shape), scaled=scaled, offset=offset, canvas=canvas)  # type: ignore[arg-type]


def _windows(geo: SliceGeometry) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(canvas window, scaled-image window) of their overlap."""
    can, img = [], []
    for n, off in zip(geo.scaled, geo.offset):
        lo, hi = max(0, off), min(geo.canvas, off + n)
        can.append(slice(lo, hi))
        img.append(slice(lo - off, hi - off))
    return (can[0], can[1]), (img[0], img[1])


def to_model_grid(
    array: np.ndarray, spacing_yx: tuple[float, float], *, pixel_mm: float, canvas: int, fill: float
) -> tuple[torch.Tensor, SliceGeometry]:
    """Resample each axial slice of ``array`` (z, y, x) to ``pixel_mm`` pixels (bilinear,
    antialiased) on a ``canvas`` square (outside the image: ``fill``); float32 (z, canvas, canvas)."""
    geo = _geometry(array.shape[1:], spacing_yx, pixel_mm, canvas)
    src = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[:, None]
    scaled = F.interpolate(src, size=geo.scaled, mode="bilinear", antialias=True, align_corners=False)[:, 0]
    out = torch.full((array.shape[0], canvas, canvas), float(fill), dtype=torch.float32)
    (cy, cx), (iy, ix) = _windows(geo)
    out[:, cy, cx] = scaled[:, iy, ix]
    return out, geo


def from_model_grid(values: torch.Tensor, geo: SliceGeometry) -> torch.Tensor:
    """Inverse of :func:`to_model_grid` for ``values`` (z, canvas, canvas): bilinear back to
    the CT's ``(z, y, x)``; 0 where the canvas did not cover the image."""
    scaled = torch.zeros((values.shape[0], *geo.scaled), dtype=values.dtype, device=values.device)
    (cy, cx), (iy, ix) = _windows(geo)
    scaled[:, iy, ix] = values[:, cy, cx]
    return F.interpolate(scaled[:, None], size=geo.shape, mode="bilinear", align_corners=False)[:, 0]


def context_offsets(context: tuple[int, ...], step: int) -> list[int]:
    """Slice offsets of the channels, in order: ``-k * step`` (farthest first), 0, ``+k * step``."""
    ks = sorted({int(k) for k in context})
    return [-k * step for k in reversed(ks)] + [0] + [k * step for k in ks]


def context_channels(context: tuple[int, ...]) -> int:
    """Number of input channels of a network with neighbour slices ``context``."""
    return len(context_offsets(context, 1))


def neighbour_stack(slices: torch.Tensor, index: np.ndarray, step: int,
                    context: tuple[int, ...] = DEFAULT_CONTEXT) -> torch.Tensor:
    """``(n, context_channels(context), h, w)``: the slices of :func:`context_offsets` around each
    of ``index`` (clamped at the ends); the default gives ``index - step``, ``index``, ``index + step``."""
    last = slices.shape[0] - 1
    offsets = context_offsets(context, step)
    idx = torch.from_numpy(np.stack([np.clip(index + d, 0, last) for d in offsets], axis=1))
    return slices[idx]


def scale_hu(hu: torch.Tensor, window: tuple[float, float]) -> torch.Tensor:
    """HU clipped to ``window`` and mapped linearly to [-1, 1]."""
    lo, hi = window
    return (hu.clamp(lo, hi) - (lo + hi) / 2.0) / ((hi - lo) / 2.0)


@dataclass(frozen=True, eq=False)
class LungModel:
    """The lung network with its input settings and where it came from.

    Attributes:
        module: the :class:`LungUNet` or :class:`LungUNet3D` (eval mode); pixel_mm: in-plane
        pixel size (mm) of its canvas; canvas: canvas size (pixels); hu_window: HU range of
        its input; context: the 2.5D network's neighbour slices (:func:`context_offsets`);
        pool: the 3D network's in-plane average pooling of the canvas; slice_mm: the 3D
        network's slice spacing (mm); source: file it was loaded from; sha256: hash of that
        file; card: its model card.
    """

    module: nn.Module
    pixel_mm: float
    canvas: int
    hu_window: tuple[float, float]
    context: tuple[int, ...] = DEFAULT_CONTEXT
    pool: int = 1
    slice_mm: float = NEIGHBOUR_MM
    source: Path | None = None
    sha256: str = ""
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def is_3d(self) -> bool:
        """Whether the network is the 3D one."""
        return isinstance(self.module, LungUNet3D)


def save_lung_model(model: LungModel, path: str | Path, *, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as one ``.pt`` file (via a temporary name), and ``<stem>.card.json``
    (``card`` plus the file's sha256) when ``card`` is given."""
    path = Path(path)
    payload = {"format": FORMAT_3D if model.is_3d else FORMAT, "features": list(model.module.features),
               "pixel_mm": model.pixel_mm, "canvas": model.canvas, "hu_window": list(model.hu_window),
               "state_dict": model.module.state_dict()}
    payload.update({"pool": model.pool, "slice_mm": model.slice_mm} if model.is_3d
                   else {"context": list(model.context)})
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    if card is not None:
        write_card(path, card)
    return path


def lung_model_path(name: str = LUNG_MODEL_FILE) -> Path:
    """Path of a shipped lung network file (it may be missing in a broken installation)."""
    return Path(str(resources.files("covidct") / "data" / "models" / name))


def lung_model_paths() -> list[Path]:
    """Paths of the shipped lung model's networks (:data:`LUNG_MODEL_FILES`)."""
    return [lung_model_path(name) for name in LUNG_MODEL_FILES]


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> LungModel:
    file = Path(path)
    card, digest = checked_card(file, "lung model", "reinstall covidct or retrain with `covidct train lungs-unet`")
    raw = read_model_dict(file, (FORMAT, FORMAT_3D), "lung model")
    try:
        context = tuple(int(k) for k in raw.get("context", DEFAULT_CONTEXT))
        if raw["format"] == FORMAT_3D:
            module: nn.Module = LungUNet3D(features=tuple(raw["features"]))
            shape = {"pool": int(raw["pool"]), "slice_mm": float(raw["slice_mm"])}
        else:
            module = LungUNet(in_channels=context_channels(context), features=tuple(raw["features"]))
            shape = {"context": context}
        module.load_state_dict(raw["state_dict"])
        model = LungModel(module=module.eval(), pixel_mm=float(raw["pixel_mm"]), canvas=int(raw["canvas"]),
                          hu_window=tuple(raw["hu_window"]), source=file, sha256=digest, card=card,
                          **shape)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # settings and weights that disagree
        raise InvalidInputError(f"{file}: not a usable lung model: {str(exc).splitlines()[0]}") from exc
    return model


def load_lung_model(path: str | Path | None = None) -> LungModel:
    """Load a lung model file (default: the shipped one), checked against its card's sha256.

    Raises:
        DataUnavailableError: the file is missing.
        InvalidInputError: the file is damaged, not a lung model, or does not match its card.
    """
    file = existing_model_file(path, lung_model_path(), "lung model", "`covidct train lungs-unet-2mm` or `lungs-unet3d`")
    return _load(str(file.resolve()), file.stat().st_mtime_ns)


def load_lung_models(spec: str | Path | None = None) -> tuple[LungModel, ...]:
    """The networks of a lung model: ``spec`` is one file or several joined by "+" (their
    probabilities are averaged); default the shipped ones (:data:`LUNG_MODEL_FILES`).

    Raises:
        DataUnavailableError, InvalidInputError: as :func:`load_lung_model`, for any of them.
    """
    files = lung_model_paths() if spec is None else [Path(p) for p in str(spec).split("+")]
    return tuple(load_lung_model(f) for f in files)


def _predict_slices(lm: LungModel, hu: torch.Tensor, step: int, dev: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """The 2.5D network on every ``step``-th canvas slice (and the last) of the canvas HU:
    (probabilities, slice indices)."""
    n, hu = hu.shape[0], scale_hu(hu, lm.hu_window)
    zs = np.unique(np.r_[np.arange(0, n, step), n - 1])
    probs = [torch.sigmoid(lm.module(neighbour_stack(hu, zs[i:i + _BATCH], step, lm.context).to(dev)))[:, 0]
             for i in range(0, len(zs), _BATCH)]
    return torch.cat(probs).float().cpu(), zs


def _predict_volume(lm: LungModel, hu: torch.Tensor, slice_mm: float, dev: torch.device) -> torch.Tensor:
    """The 3D network on the canvas HU average-pooled (then scaled), resampled in z to
    ``lm.slice_mm`` and back: probabilities (z, canvas, canvas) of every canvas slice."""
    n = hu.shape[0]
    x = scale_hu(F.avg_pool2d(hu[:, None], lm.pool)[:, 0] if lm.pool > 1 else hu, lm.hu_window)
    nz = max(2, round(n * slice_mm / lm.slice_mm))
    if nz != n:
        x = F.interpolate(x[None, None], size=(nz, *x.shape[1:]), mode="trilinear", align_corners=False)[0, 0]
    p = torch.sigmoid(lm.module(x[None, None].to(dev)))[0, 0].float().cpu()
    if nz != n:
        p = F.interpolate(p[None, None], size=(n, *p.shape[1:]), mode="trilinear", align_corners=False)[0, 0]
    if lm.pool > 1:
        p = F.interpolate(p[:, None], size=hu.shape[1:], mode="bilinear", align_corners=False)[:, 0]
    return p


def _interpolate_z(sampled: torch.Tensor, zs: np.ndarray, n: int) -> torch.Tensor:
    """Slices ``sampled`` at ``zs`` to all ``n`` slices, linear in z."""
    if len(zs) == n:
        return sampled
    pos = np.interp(np.arange(n), zs, np.arange(len(zs)))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(zs) - 1)
    w = torch.from_numpy((pos - lo).astype(np.float32))[:, None, None]
    return sampled[lo] * (1 - w) + sampled[hi] * w


def predict_lung_probability(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    model: LungModel | Sequence[LungModel] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Lung probability of every voxel of an axial CT.

    Args:
        volume: ``(z, y, x)`` HU array (axial slices), laid as a DICOM axial series (feet to
            head, front to back, patient right to left; ``network_pass`` flips other scans,
            :class:`~covidct.io.layout.Layout`).
        spacing: ``(sz, sy, sx)`` in mm.
        model: a :class:`LungModel`, or several whose probabilities are averaged; default
            the shipped model (:func:`load_lung_models`).
        device: torch device ("cpu", "cuda"); default CUDA when available.
        threads: torch's CPU threads for this call (default: torch's setting); set in the
            calling thread and restored after it.
    Returns:
        float32 ``(z, y, x)`` probability in [0, 1] on the input grid.
    """
    arr = np.asarray(volume)
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InvalidInputError(f"lung model needs a 3D (z, y, x) HU volume; got shape {arr.shape}")
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InvalidInputError(f"spacing must be 3 positive numbers (sz, sy, sx) in mm; got {spacing}")
    models = load_lung_models() if model is None else (model,) if isinstance(model, LungModel) else tuple(model)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    step = max(1, int(round(NEIGHBOUR_MM / float(spacing[0]))))
    grids: dict[tuple[float, int], tuple[torch.Tensor, SliceGeometry]] = {}
    total, previous = torch.zeros(arr.shape, dtype=torch.float32), torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        with torch.inference_mode():
            for lm in models:
                key = (lm.pixel_mm, lm.canvas)
                if key not in grids:
                    grids[key] = to_model_grid(arr, (spacing[1], spacing[2]), pixel_mm=lm.pixel_mm,
                                               canvas=lm.canvas, fill=-1024.0)
                hu, geo = grids[key]
                lm.module.to(dev)
                if lm.is_3d:
                    p = _predict_volume(lm, hu, float(spacing[0]), dev)
                else:
                    p = _interpolate_z(*_predict_slices(lm, hu, step, dev), arr.shape[0])
                total += from_model_grid(p, geo)
    finally:
        torch.set_num_threads(previous)
    return (total / len(models)).clamp_(0.0, 1.0).numpy().astype(np.float32, copy=False)
