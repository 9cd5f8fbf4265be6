"""HOG features of the axial slice with the largest lung area (COVID-MTL), optional PCA.

The slice is windowed to [-1200, 600] HU, scaled to [0, 1] and zeroed outside the lungs
(as the preprocessed volumes are), then resampled onto a fixed physical field of view:
**320 x 320 mm at 1.25 mm = 256 x 256 pixels**, centred on the lungs. Why: a fixed field in
mm makes the descriptor independent of the grid the CT was stored on; 320 mm holds the
lateral extent of both adult lungs (up to ~300 mm; the paper's 250 mm crop clips some);
256 is a multiple of the 16-pixel HOG cell, so cells tile the image exactly. With
``orientations=32, pixels_per_cell=(16, 16), cells_per_block=(1, 1)`` that gives
16 x 16 cells x 32 = **8192** values.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted

from covidct.errors import InvalidInputError
from covidct.io.layout import display_view
from covidct.io.volume import CTVolume

__all__ = [
    "HOG_FIELD_MM",
    "HOG_LENGTH",
    "HOG_SIZE_PX",
    "HogPCA",
    "hog_features",
    "hog_image",
    "largest_lung_slice",
]

HOG_SIZE_PX = 256
HOG_FIELD_MM = 320.0
HOG_ORIENTATIONS = 32
HOG_CELL_PX = 16
HOG_LENGTH = (HOG_SIZE_PX // HOG_CELL_PX) ** 2 * HOG_ORIENTATIONS
WINDOW_HU = (-1200.0, 600.0)


def largest_lung_slice(lungs: np.ndarray) -> int:
    """Index (z) of the axial slice with the most lung voxels of a ``(z, y, x)`` mask."""
    lungs = np.asarray(lungs)
    if lungs.ndim != 3:
        raise InvalidInputError(f"lung mask must be 3D (z, y, x); got shape {lungs.shape}")
    areas = np.count_nonzero(lungs, axis=(1, 2))
    if areas.max(initial=0) == 0:
        raise InvalidInputError("the lung mask is empty: no slice to compute HOG on")
    return int(np.argmax(areas))


def hog_image(volume_or_array: CTVolume | np.ndarray, lungs: np.ndarray,
              spacing: tuple[float, float, float] | None = None) -> np.ndarray:
    """The 256 x 256 float image (values in [0, 1]) HOG is computed on.

    ``spacing`` (sz, sy, sx) mm is needed with a plain array; without it pixels count as 1 mm.
    A volume's axial slice is taken front up, the patient's right on the left, whatever the
    file's order (a NIfTI in RAS is flipped in-plane, a reformat transposed:
    :attr:`~covidct.io.layout.Layout.display`); a plain array as it is.
    """
    lungs = np.asarray(lungs)
    if isinstance(volume_or_array, CTVolume):
        array, spacing = volume_or_array.array, volume_or_array.spacing
        if array.shape == lungs.shape:
            array, (lungs,), spacing = display_view(volume_or_array, lungs)
    else:
        array = np.asarray(volume_or_array)
        spacing = spacing or (1.0, 1.0, 1.0)
    if array.shape != lungs.shape:
        raise InvalidInputError(f"lung mask shape {lungs.shape} differs from the CT's {array.shape}")
    z = largest_lung_slice(lungs)
    lo, hi = WINDOW_HU
    slice_ = (np.clip(array[z].astype(np.float64), lo, hi) - lo) / (hi - lo)
    inside = lungs[z] > 0
    slice_ = np.where(inside, slice_, 0.0)
    ys, xs = np.nonzero(inside)
    cy, cx = (ys.min() + ys.max()) / 2.0, (xs.min() + xs.max()) / 2.0
    step = HOG_FIELD_MM / HOG_SIZE_PX
    offsets = (np.arange(HOG_SIZE_PX) - (HOG_SIZE_PX - 1) / 2.0) * step
    yy = cy + offsets[:, None] / spacing[1]
    xx = cx + offsets[None, :] / spacing[2]
    coords = np.stack([np.broadcast_to(yy, (HOG_SIZE_PX, HOG_SIZE_PX)),
                       np.broadcast_to(xx, (HOG_SIZE_PX, HOG_SIZE_PX))])
    out = ndimage.map_coordinates(slice_, coords, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0)


def hog_features(volume_or_array: CTVolume | np.ndarray, lungs: np.ndarray,
                 spacing: tuple[float, float, float] | None = None, *,
                 pca: HogPCA | None = None) -> np.ndarray:
    """HOG descriptor (8192 floats) of the largest-lung axial slice; PCA-reduced when ``pca``.

    Args:
        volume_or_array: CT volume, or a ``(z, y, x)`` HU array with ``spacing``.
        lungs: ``(z, y, x)`` lung mask on the same grid.
        spacing: ``(sz, sy, sx)`` mm, for a plain array.
        pca: a fitted :class:`HogPCA`; the result is then its ``n_components`` values.
    """
    from skimage.feature import hog

    image = hog_image(volume_or_array, lungs, spacing)
    vec = hog(image, orientations=HOG_ORIENTATIONS, pixels_per_cell=(HOG_CELL_PX, HOG_CELL_PX),
              cells_per_block=(1, 1), block_norm="L1", transform_sqrt=True, feature_vector=True)
    if pca is not None:
        return pca.transform(vec[None, :])[0]
    return vec.astype(np.float64)


class HogPCA(TransformerMixin, BaseEstimator):
    """PCA of HOG vectors to ``n_components`` (100 in COVID-MTL), fit on training data only.

    A scikit-learn transformer: put it in a Pipeline so that cross-validation refits it on
    each training fold. ``n_components`` is capped at ``min(n_samples, n_features)`` of the fit.
    """

    def __init__(self, n_components: int = 100, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> HogPCA:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise InvalidInputError(f"HogPCA needs a 2D array of at least 2 rows; got shape {X.shape}")
        k = int(min(self.n_components, X.shape[0], X.shape[1]))
        self.pca_ = PCA(n_components=k, random_state=self.random_state).fit(X)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "pca_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"HogPCA was fit on {self.n_features_in_} features; got shape {X.shape}")
        return self.pca_.transform(X)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "pca_")
        return np.array([f"hog_pca_{i:03d}" for i in range(self.pca_.n_components_)], dtype=object)
