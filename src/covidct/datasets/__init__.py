"""Dataset layouts (readers and writers), the common case table and patient-level splits.

Every layout reads into one case table (:mod:`covidct.datasets.table`); writers turn
simulated (or any SimulatedCase-like) cases into each layout, so pipelines can be tested
end to end without the real data. Layouts: ``ictcf``, ``cncb-seg``, ``covidx-ct``,
``ucsd``, ``mosmed``, ``plain``.
"""

from __future__ import annotations

from covidct.datasets._common import CaseLike, hu_to_uint8, uint8_to_hu
from covidct.datasets.detect import LAYOUTS, detect_layout, read_dataset, write_dataset
from covidct.datasets.splits import (
    assign_folds,
    load_folds,
    patient_folds,
    save_folds,
    split_patients,
    train_test_split_patients,
)
from covidct.datasets.table import (
    COLUMNS,
    make_case_table,
    resolve_path,
    summarize_case_table,
    validate_case_table,
)

__all__ = [
    "COLUMNS",
    "LAYOUTS",
    "CaseLike",
    "assign_folds",
    "detect_layout",
    "hu_to_uint8",
    "load_folds",
    "make_case_table",
    "patient_folds",
    "read_dataset",
    "resolve_path",
    "save_folds",
    "split_patients",
    "summarize_case_table",
    "train_test_split_patients",
    "uint8_to_hu",
    "validate_case_table",
    "write_dataset",
]
