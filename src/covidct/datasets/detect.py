"""Recognise a dataset layout, read any layout into the case table, write any layout."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from covidct.datasets import cncb, covidx, ictcf, mosmed, plain, ucsd
from covidct.datasets._common import CaseLike, Progress
from covidct.datasets.table import validate_case_table
from covidct.errors import InvalidInputError

__all__ = ["LAYOUTS", "Layout", "detect_layout", "read_dataset", "write_dataset"]


@dataclass(frozen=True)
class Layout:
    """One dataset layout: how to recognise, read and write it."""

    name: str
    description: str
    looks_for: str
    matches: Callable[[Path], bool]
    read: Callable[[Path], pd.DataFrame]
    write: Callable[[Iterable[CaseLike], Path, int, Progress | None], pd.DataFrame]


def _has_dirs(root: Path, *names: str) -> bool:
    return all((root / n).is_dir() for n in names)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            ictcf.LAYOUT,
            "iCTCF / HUST-19 (COVID-MTL): DICOM series per patient",
            f"{ictcf.SHEET}",
            lambda r: (r / ictcf.SHEET).is_file(),
            ictcf.read_ictcf,
            lambda c, o, s, p: ictcf.write_ictcf(c, o, progress=p),
        ),
        Layout(
            cncb.LAYOUT,
            "CNCB lesion segmentation: 512 x 512 PNG slices and masks",
            f"{cncb.IMAGE_DIR}/ and {cncb.MASK_DIR}/ folders",
            lambda r: _has_dirs(r, cncb.IMAGE_DIR, cncb.MASK_DIR),
            cncb.read_cncb_seg,
            lambda c, o, s, p: cncb.write_cncb_seg(c, o, progress=p),
        ),
        Layout(
            covidx.LAYOUT,
            "COVIDx-CT / CNCB classification: PNG slices and split files",
            "split files train_COVIDx_CT*.txt / val_... / test_...",
            lambda r: bool(covidx.find_split_files(r)),
            covidx.read_covidx_ct,
            lambda c, o, s, p: covidx.write_covidx_ct(c, o, seed=s, progress=p),
        ),
        Layout(
            ucsd.LAYOUT,
            "UCSD-AI4H COVID-CT: CT_COVID/ and CT_NonCOVID/ slices",
            "CT_COVID/ and CT_NonCOVID/ folders",
            lambda r: _has_dirs(r, "CT_COVID", "CT_NonCOVID"),
            ucsd.read_ucsd,
            lambda c, o, s, p: ucsd.write_ucsd(c, o, seed=s, progress=p),
        ),
        Layout(
            mosmed.LAYOUT,
            "MosMedData: NIfTI studies in CT-0 ... CT-4",
            f"{mosmed.STUDY_DIR}/CT-0 ... CT-4 folders",
            lambda r: (
                (r / mosmed.STUDY_DIR).is_dir()
                and any(p.name.startswith("CT-") for p in (r / mosmed.STUDY_DIR).iterdir())
            ),
            mosmed.read_mosmed,
            lambda c, o, s, p: mosmed.write_mosmed(c, o, progress=p),
        ),
        Layout(
            plain.LAYOUT,
            "plain: cases.csv and NIfTI images (your own data)",
            plain.CSV_NAME,
            lambda r: (r / plain.CSV_NAME).is_file(),
            plain.read_plain,
            lambda c, o, s, p: plain.write_plain(c, o, progress=p),
        ),
    )
}


def _layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise InvalidInputError(f"unknown dataset layout {name!r}; choose one of {sorted(LAYOUTS)}")
    return LAYOUTS[name]


def detect_layout(path: str | Path) -> str:
    """The layout name of the dataset folder ``path`` (one of :data:`LAYOUTS`).

    Raises InvalidInputError naming what was looked for when no layout (or more than
    one) matches.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"dataset {root} is not a folder")
    found = [name for name, layout in LAYOUTS.items() if layout.matches(root)]
    if len(found) == 1:
        return found[0]
    looked = "; ".join(f"{lay.name}: {lay.looks_for}" for lay in LAYOUTS.values())
    if not found:
        raise InvalidInputError(f"no known dataset layout in {root}; looked for {looked}")
    raise InvalidInputError(
        f"dataset {root} matches several layouts {found}; pass the layout explicitly"
    )


def read_dataset(
    path: str | Path, layout: str | None = None, *, check_files: bool = True
) -> pd.DataFrame:
    """Read a dataset folder into the validated case table (layout detected when None)."""
    root = Path(path)
    name = layout if layout is not None else detect_layout(root)
    table = _layout(name).read(root)
    validate_case_table(table, root, check_files=check_files)
    table.attrs["root"] = str(root)
    return table


def write_dataset(
    cases: Iterable[CaseLike],
    out: str | Path,
    layout: str,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write SimulatedCase-like ``cases`` to the new or empty folder ``out`` in ``layout``.

    ``seed`` drives the patient-level train/val/test assignment of layouts with split
    files; ``progress(done)`` is called after each case. Returns the case table as read
    back from ``out``.
    """
    spec = _layout(layout)
    table = spec.write(cases, Path(out), seed, progress)
    validate_case_table(table, out)
    table.attrs["root"] = str(out)
    return table
