"""``covidct analyze``: one CT study (or a cohort) turned into a report a person can read.

Main entry points: :func:`analyze_study` (the steps, in memory), :func:`write_report` (the
report folder: report.html, report.json, masks, optional DICOM SEG), :func:`analyze_to_folder`
(both), :func:`analyze_cohort` (every case of a dataset on Dask, resumable) and
:func:`run_demo` (a simulated study and the real samples with the shipped demo model).
"""

from __future__ import annotations

from covidct.report.analysis import StepRecord, StudyAnalysis, analyze_study, lesion_profile
from covidct.report.options import ANALYZE_PRESETS, AnalyzeOptions, get_analyze_preset
from covidct.report.record import RESEARCH_USE, build_record, report_schema, validate_record
from covidct.report.write import ReportFiles, analyze_to_folder, external_references, write_report

__all__ = [
    "ANALYZE_PRESETS",
    "RESEARCH_USE",
    "AnalyzeOptions",
    "ReportFiles",
    "StepRecord",
    "StudyAnalysis",
    "analyze_study",
    "analyze_to_folder",
    "build_record",
    "external_references",
    "get_analyze_preset",
    "lesion_profile",
    "report_schema",
    "validate_record",
    "write_report",
]
