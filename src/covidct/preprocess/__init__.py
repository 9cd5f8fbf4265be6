"""Cohort preprocessing: common grid, lossless store, Dask runner (resumable)."""

from covidct.preprocess.grid import GRID_PRESETS, GridCase, GridPreset, get_grid, resample, to_grid
from covidct.preprocess.run import (
    MANIFEST_NAME,
    PreprocessSummary,
    preprocess_dataset,
    process_case,
    read_manifest,
)
from covidct.preprocess.store import StoredCase, case_complete, case_paths, load_case, save_case

__all__ = [
    "GRID_PRESETS",
    "MANIFEST_NAME",
    "GridCase",
    "GridPreset",
    "PreprocessSummary",
    "StoredCase",
    "case_complete",
    "case_paths",
    "get_grid",
    "load_case",
    "preprocess_dataset",
    "process_case",
    "read_manifest",
    "resample",
    "save_case",
    "to_grid",
]
