"""Checked extraction of an uploaded zip (a DICOM series or a folder holding one CT).

Every entry is checked before anything is written: no absolute paths or drive letters, no
``..`` components, no symbolic links or other special files, at most ``max_entries``
entries, at most ``max_bytes`` in all and a bounded compression ratio per entry (zip bombs).
Sizes are also counted while extracting, so a header that lies about them cannot get past.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from covidct.errors import InvalidInputError

__all__ = ["check_zip_entries", "extract_zip"]

_CHUNK = 1 << 20


def _entry_problem(info: zipfile.ZipInfo, max_ratio: float) -> str | None:
    name = info.filename
    if "\\" in name or "\0" in name:
        return "has a backslash or NUL in its name"
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and len(parts[0]) == 2 and parts[0][1] == ":"):
        return "is an absolute path"
    if ".." in parts:
        return "climbs out of the folder with '..'"
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip stores no file type
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return "is a link or special file"
    if info.file_size > max_ratio * max(info.compress_size, 1) and info.file_size > _CHUNK:
        return f"expands {info.file_size / max(info.compress_size, 1):.0f}-fold (zip bomb?)"
    return None


def check_zip_entries(path: Path, *, max_entries: int, max_bytes: int,
                      max_ratio: float) -> list[zipfile.ZipInfo]:
    """The zip's file entries, after checking every entry and the declared total size.

    Raises:
        InvalidInputError: not a zip, an unsafe entry, too many entries or bytes.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"the upload is not a valid zip archive: {exc}") from exc
    if len(infos) > max_entries:
        raise InvalidInputError(
            f"the zip holds {len(infos)} entries; at most {max_entries} are accepted"
        )
    for info in infos:
        problem = _entry_problem(info, max_ratio)
        if problem:
            raise InvalidInputError(f"zip entry {info.filename!r} {problem}; upload refused")
    files = [i for i in infos if not i.is_dir()]
    total = sum(i.file_size for i in files)
    if total > max_bytes:
        raise InvalidInputError(
            f"the zip expands to {total} bytes; at most {max_bytes} are accepted"
        )
    if not files:
        raise InvalidInputError("the zip holds no files")
    return files


def extract_zip(path: Path, dest: Path, *, max_entries: int, max_bytes: int,
                max_ratio: float) -> Path:
    """Extract a checked zip into the new folder ``dest`` (removed again on any failure).

    Returns ``dest``. Raises :class:`InvalidInputError` as :func:`check_zip_entries`, or
    when the bytes actually read exceed ``max_bytes``.
    """
    files = check_zip_entries(path, max_entries=max_entries, max_bytes=max_bytes,
                              max_ratio=max_ratio)
    root = dest.resolve()
    dest.mkdir(parents=False, exist_ok=False)
    written = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in files:
                target = (root / info.filename).resolve()
                if not target.is_relative_to(root):
                    raise InvalidInputError(f"zip entry {info.filename!r} leaves the folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    while block := src.read(_CHUNK):
                        written += len(block)
                        if written > max_bytes:
                            raise InvalidInputError(
                                f"the zip expands to more than {max_bytes} bytes; refused"
                            )
                        out.write(block)
    except (zipfile.BadZipFile, FileExistsError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise InvalidInputError(f"cannot extract the zip: {exc}") from exc
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
