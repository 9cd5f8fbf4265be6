"""The lesion-detector switches shared by the lung / lesion benchmarks (``--hilum-off``,
``--bands-off``), so each table can be measured with a step of ``detect_lesions`` left out."""

from __future__ import annotations

import argparse

from covidct.lesions import QuantOptions


def add_quant_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hilum-off", action="store_true",
                        help="without the hilar vessel test (QuantOptions(hilum_mm=None))")
    parser.add_argument("--bands-off", action="store_true",
                        help="without the subpleural band seeds (QuantOptions(band_open_mm=None))")


def quant_options(hilum_off: bool, bands_off: bool) -> QuantOptions:
    """The default lesion options with the steps named switched off."""
    changes = {"hilum_mm": None} if hilum_off else {}
    if bands_off:
        changes["band_open_mm"] = None
    return QuantOptions(**changes)
