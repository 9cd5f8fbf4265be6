"""The lung networks in torch: a small 2.5D U-Net on low-resolution axial slices (shipped),
and a low-resolution 3D U-Net that can be trained and averaged with it.

The 2.5D network sees axial slices as channels: the slice and its neighbours ``k * s``
slices away on each side, ``s = round(NEIGHBOUR_MM / slice spacing)``, for each ``k`` of
the model's ``context`` (``(1,)``: three slices 5 mm apart), on the model grid of
:mod:`covidct.lungs.model_grid`. It outputs the probability of lung (both lungs, without
the trachea and main bronchi). Left / right labels and airway removal stay with the rules
(:mod:`covidct.lungs.split`, :mod:`covidct.lungs.airways`).

The 3D network (:class:`LungUNet3D`) reads the same canvas average-pooled by ``pool``
in-plane (4 mm pixels) and resampled linearly in z to ``slice_mm`` (5 mm) slices, the
whole scan at once, and its probability comes back to the CT grid the same way.

The trained 2.5D weights ship in the package (``covidct/data/models/lung-unet.pt``) with a
model card beside them (``lung-unet.card.json``: data, command, seed, held-out numbers,
sha256); :func:`load_lung_model` checks a file against its card's sha256. The run time
uses their ONNX export (:func:`export_onnx`, :mod:`covidct.lungs.network`), which needs no
torch. The 3D network is not shipped: averaged with the 2.5D one it lowered scans of the
lung bases (docs/validation.md).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from covidct.errors import InvalidInputError
from covidct.lungs.model_grid import DEFAULT_CONTEXT, NEIGHBOUR_MM, context_channels, scale_hu
from covidct.lungs.network import ONNX_FORMAT, lung_model_path
from covidct.models.files import read_model_dict
from covidct.provenance import (
    checked_card,
    existing_model_file,
    model_version,
    sha256_file,
    write_card,
)

__all__ = ["FORMAT", "FORMAT_3D", "TORCH_MODEL_FILE", "LungModel", "LungUNet", "LungUNet3D",
           "export_onnx", "load_lung_model", "save_lung_model"]

FORMAT = "covidct-lung-unet/1"
FORMAT_3D = "covidct-lung-unet3d/1"
#: file name of the shipped 2.5D lung network's torch weights inside ``covidct/data/models``.
TORCH_MODEL_FILE = "lung-unet.pt"
#: largest |logit| difference an ONNX export may show against torch (:func:`export_onnx`).
ONNX_TOLERANCE = 1e-3


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


@dataclass(frozen=True, eq=False)
class LungModel:
    """The lung network with its input settings and where it came from.

    Attributes:
        module: the :class:`LungUNet` or :class:`LungUNet3D` (eval mode); pixel_mm: in-plane
        pixel size (mm) of its canvas; canvas: canvas size (pixels); hu_window: HU range of
        its input; context: the 2.5D network's neighbour slices
        (:func:`~covidct.lungs.model_grid.context_offsets`);
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

    def slice_logits(self, x: np.ndarray, *, device: str | None = None, threads: int | None = None) -> np.ndarray:
        """The 2.5D network's logits ``(n, 1, h, w)`` for the scaled-HU batch ``x``
        ``(n, channels, h, w)``, on ``device`` (default CUDA when available) with ``threads``
        CPU threads (default torch's setting; restored after the call)."""
        with _torch_threads(threads), torch.inference_mode():
            dev = _device(device)
            return self.module.to(dev)(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(dev)).float().cpu().numpy()

    def volume_probability(self, hu: np.ndarray, slice_mm: float, *, device: str | None = None,
                           threads: int | None = None) -> np.ndarray:
        """The 3D network's probability ``(z, canvas, canvas)`` of every slice of the canvas
        HU ``hu`` (slices ``slice_mm`` apart): the canvas average-pooled by ``pool`` (then
        scaled), resampled in z to ``self.slice_mm`` and back."""
        with _torch_threads(threads), torch.inference_mode():
            dev, n = _device(device), hu.shape[0]
            x = torch.from_numpy(np.ascontiguousarray(hu, np.float32))
            x = scale_hu(F.avg_pool2d(x[:, None], self.pool)[:, 0] if self.pool > 1 else x, self.hu_window)
            nz = max(2, round(n * slice_mm / self.slice_mm))
            if nz != n:
                x = F.interpolate(x[None, None], size=(nz, *x.shape[1:]), mode="trilinear", align_corners=False)[0, 0]
            p = torch.sigmoid(self.module.to(dev)(x[None, None].to(dev)))[0, 0].float().cpu()
            if nz != n:
                p = F.interpolate(p[None, None], size=(n, *p.shape[1:]), mode="trilinear", align_corners=False)[0, 0]
            if self.pool > 1:
                p = F.interpolate(p[:, None], size=hu.shape[1:], mode="bilinear", align_corners=False)[:, 0]
            return p.numpy()


def _device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


class _torch_threads:
    """Context: torch's CPU threads set to ``threads`` (None: unchanged), then restored."""

    def __init__(self, threads: int | None) -> None:
        self.threads, self.previous = threads, torch.get_num_threads()

    def __enter__(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.previous)


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


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, card_mtime_ns: int) -> LungModel:
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
    file = existing_model_file(path, lung_model_path(TORCH_MODEL_FILE), "lung model",
                               "`covidct train lungs-unet-2mm` or `lungs-unet3d`")
    return _load(*model_version(file))


def export_onnx(model: LungModel, path: str | Path, *, card_of: Path | None = None) -> Path:
    """Export the 2.5D ``model`` to ONNX at ``path`` (via a temporary name), its settings in
    the file's metadata (:mod:`covidct.lungs.network` reads them), checked first: ONNX
    Runtime's logits on a random batch must agree with torch's within ``ONNX_TOLERANCE``.
    With ``card_of`` (the ``.pt`` whose card it is), the export's sha256 is written into that
    card as ``onnx_sha256``.

    Raises:
        InvalidInputError: a 3D network, or an export that does not agree with torch.
    """
    import onnx

    from covidct.lungs.network import OnnxLungModel, finish_export

    if model.is_3d:
        raise InvalidInputError("only the 2.5D lung network is exported to ONNX")
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    module = model.module.cpu().eval()
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, context_channels(model.context),
                                                                  model.canvas, model.canvas)).astype(np.float32))
    program = torch.onnx.export(module, (x,), dynamo=True, input_names=["x"], output_names=["logit"],
                                dynamic_shapes=({0: torch.export.Dim("n", min=1, max=4096)},), verbose=False)
    program.save(str(tmp), external_data=False)
    proto = onnx.load(str(tmp))
    meta = {"format": ONNX_FORMAT, "pixel_mm": str(model.pixel_mm), "canvas": str(model.canvas),
            "hu_window": json.dumps(list(model.hu_window)), "context": json.dumps(list(model.context)),
            "exported_from": model.sha256}
    onnx.helper.set_model_props(proto, meta)
    onnx.save(proto, str(tmp))
    exported = OnnxLungModel(source=tmp, pixel_mm=model.pixel_mm, canvas=model.canvas, hu_window=model.hu_window,
                             context=model.context, sha256=sha256_file(tmp))
    with torch.inference_mode():
        gap = float(np.abs(exported.slice_logits(x.numpy(), threads=1) - module(x).numpy()).max())
    export = {"function": "covidct.lungs.learned.export_onnx", "torch": torch.__version__, "onnx": onnx.__version__,
              "checked": "logits of a random batch against torch's"}
    return finish_export(tmp, path, gap, ONNX_TOLERANCE, export, card_of=card_of)
