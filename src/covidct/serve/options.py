"""Options of ``covidct serve``: limits, pool size and the analysis time-out, with presets."""

from __future__ import annotations

from dataclasses import dataclass

from covidct.errors import InvalidInputError

__all__ = ["SERVE_PRESETS", "ServeOptions", "get_serve_preset"]

GB = 1024**3
MB = 1024**2


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """Limits and resources of the web app (written into every study's record).

    Attributes:
        max_upload_bytes: largest upload accepted, counted while it streams in (bytes).
        max_zip_entries: most entries a zip may hold (zip bombs, huge DICOM trees).
        max_unzipped_bytes: most bytes a zip may expand to, counted while extracting.
        max_zip_ratio: largest uncompressed/compressed size ratio of one zip entry.
        workers: analyses run at once; further studies wait in a queue.
        job_timeout_s: an analysis still running after this many seconds is killed (failed).
        volume_cache: studies whose CT and masks are kept in memory for the viewer.
        analyze_preset: the ``covidct analyze`` preset each study runs ("default": with the
            demo 3D model and its heat map when installed; "fast": lungs and lesions only).
    """

    max_upload_bytes: int = 2 * GB
    max_zip_entries: int = 5000
    max_unzipped_bytes: int = 8 * GB
    max_zip_ratio: float = 200.0
    workers: int = 1
    job_timeout_s: float = 3600.0
    volume_cache: int = 4
    analyze_preset: str = "default"

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_zip_entries", "max_unzipped_bytes", "workers",
                     "volume_cache"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not self.max_zip_ratio > 1 or not self.job_timeout_s > 0:
            raise InvalidInputError(
                f"max_zip_ratio must be > 1 and job_timeout_s > 0; got {self.max_zip_ratio}, "
                f"{self.job_timeout_s}"
            )


#: ``default``: one analysis at a time, 2 GB uploads (a workstation shared by a few people);
#: ``group``: two analyses at once (a server with >= 8 cores and 32 GB of memory).
SERVE_PRESETS: dict[str, ServeOptions] = {
    "default": ServeOptions(),
    "group": ServeOptions(workers=2, volume_cache=8),
}


def get_serve_preset(name: str) -> ServeOptions:
    """The :class:`ServeOptions` preset called ``name``."""
    try:
        return SERVE_PRESETS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown serve preset {name!r}; expected one of {sorted(SERVE_PRESETS)}"
        ) from None
