"""Helpers for covidct.io tests: small synthetic volumes with awkward geometry."""

from __future__ import annotations

import numpy as np

from covidct.io import CTVolume


def rotation(ax: float, az: float) -> np.ndarray:
    """A proper rotation (det +1): about x by ``ax`` then about z by ``az`` (radians)."""
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


def make_volume(
    shape: tuple[int, int, int] = (6, 9, 11),
    *,
    spacing: tuple[float, float, float] = (2.5, 0.75, 0.625),
    origin: tuple[float, float, float] = (-100.25, 50.5, -300.125),
    direction: np.ndarray | None = None,
    dtype: type = np.int16,
    seed: int = 0,
) -> CTVolume:
    """Random HU-like volume: int16 in [-1024, 2000] or float32 with fractions."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        array = rng.uniform(-1024, 2000, size=shape).astype(dtype)
    else:
        array = rng.integers(-1024, 2001, size=shape).astype(dtype)
    d = np.eye(3) if direction is None else np.asarray(direction)
    return CTVolume(array=array, spacing=spacing, origin=origin, direction=tuple(d.ravel()))


def write_raw_slice(
    path,
    stored: np.ndarray,
    *,
    position: tuple[float, float, float],
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    pixel_spacing: tuple[float, float] = (0.7, 0.8),
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str = "1.2.3.4.5",
    modality: str = "CT",
    instance: int = 1,
) -> None:
    """One DICOM slice written with plain pydicom (uint16 storage), independent of covidct."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "P001"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.SeriesDescription = "raw pydicom"
    ds.ConvolutionKernel = "B30f"
    ds.Manufacturer = "TestCo"
    ds.SliceThickness = 1.25
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = list(pixel_spacing)
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = stored.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
