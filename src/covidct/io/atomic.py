"""Checked, atomic writes: a temporary name, a check of what landed on disk, then a rename.

On a full disk or past a file-size limit, writers (ITK's among them) can leave a 0-byte or
truncated file and report success. Every covidct output goes through :func:`atomic_write`:
the content is written beside the target under a hidden temporary name, checked (not empty,
and read back by the caller's ``verify``), and only then renamed over the target. A failure
raises :class:`~covidct.errors.OutputError` and leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from covidct.errors import CovidCTError, InvalidInputError, OutputError

__all__ = [
    "TABLE_SUFFIXES",
    "atomic_write",
    "check_output",
    "read_json_object",
    "table_format",
    "write_json",
    "write_table",
    "write_text",
]

#: Table formats :func:`write_table` writes, by file name ending.
TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    output: str | Path,
    inputs: Sequence[str | Path | None] = (),
    *,
    suffixes: Sequence[str] | None = None,
    what: str = "output",
) -> Path:
    """Refuse an output that is, or lies inside, one of the inputs, or has the wrong ending.

    An output is refused when it names an input file by any spelling (``../``, a symlink,
    a hard link), lies inside an input folder, or (for folders) contains an input folder.
    With ``suffixes``, the output's name must end with one of them (case-insensitive).

    Returns the output path unchanged.

    Raises:
        InvalidInputError: naming the output, the input it would change, and what to do.
    """
    out = Path(output)
    out_res = out.resolve()
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp)
        src_res = src.resolve()
        if out_res == src_res or _same_file(out, src):
            raise InvalidInputError(
                f"refusing to write {what} {out}: it is the input {src}; choose another name"
            )
        if src_res.is_dir() and out_res.is_relative_to(src_res):
            raise InvalidInputError(
                f"refusing to write {what} {out}: it lies inside the input folder {src}; "
                "write outside it"
            )
        if out.is_dir() and src_res.is_relative_to(out_res):
            raise InvalidInputError(
                f"refusing to write {what} into {out}: it contains the input {src}; "
                "choose another folder"
            )
    if suffixes is not None and not out.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise InvalidInputError(
            f"{what} {out}: the ending must match the format written ({', '.join(suffixes)}); "
            f"got {''.join(out.suffixes) or 'no ending'}"
        )
    return out


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path`` keeping its full ending (``.nii.gz`` stays)."""
    name = path.name
    ending = "".join(path.suffixes[-2:]) if name.lower().endswith(".gz") else path.suffix
    return path.with_name(f".{name[: len(name) - len(ending)]}.{uuid.uuid4().hex[:8]}.tmp{ending}")


def atomic_write(
    path: str | Path,
    write: Callable[[Path], None],
    *,
    verify: Callable[[Path], None] | None = None,
    what: str = "file",
    allow_empty: bool = False,
) -> Path:
    """Write ``path`` through ``write(tmp)``, check ``tmp`` (size > 0, ``verify``), rename.

    Args:
        path: the target; parent folders are created.
        write: writes the whole content to the path it is given.
        verify: reads the temporary file back and raises when it is incomplete or wrong.
        what: a short noun for messages ("mask", "feature table").
        allow_empty: accept a 0-byte result (an empty list file).

    Raises:
        OutputError: the write or the check failed; neither the temporary file nor a
            partial target is left.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder of {path}: {exc.strerror or exc}") from exc
    tmp = _temporary(path)
    try:
        write(tmp)
        size = tmp.stat().st_size if tmp.exists() else -1
        if size < 0 or (size == 0 and not allow_empty):
            raise OutputError(
                f"cannot write {what} {path}: {'nothing' if size < 0 else '0 bytes'} written "
                "(disk full or a file-size limit?)"
            )
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)
    except OutputError:
        raise
    except (OSError, RuntimeError, ValueError, CovidCTError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = reason.strip().splitlines()[-1] if reason.strip() else type(exc).__name__
        raise OutputError(
            f"cannot write {what} {path}: {reason} (disk full, a file-size limit or no "
            "permission?); nothing was written"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(text: str, path: str | Path, *, what: str = "text file") -> Path:
    """Write UTF-8 ``text`` (checked: it reads back equal); returns the path. An empty
    text gives an empty file."""

    def verify(tmp: Path) -> None:
        if tmp.read_text(encoding="utf-8") != text:
            raise OutputError(f"cannot write {what} {path}: the file reads back different")

    if not text:
        return atomic_write(path, lambda tmp: tmp.write_bytes(b""),
                            what=what, allow_empty=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"),
                        verify=verify, what=what)


def write_json(data: Any, path: str | Path, *, what: str = "JSON file") -> Path:
    """Write ``data`` as indented JSON (checked: it reads back equal); returns the path."""
    return write_text(json.dumps(data, indent=2, default=str) + "\n", path, what=what)


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object (a mapping) in ``path``; an unreadable, damaged or non-object file is
    an :class:`~covidct.errors.InvalidInputError` naming it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} holds no JSON object")
    return data


def table_format(path: str | Path) -> str:
    """``"parquet"`` or ``"csv"`` from the file name, or OutputError naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise OutputError(
            f"cannot write table {path}: unknown ending {suffix or '(none)'!r}; tables are "
            f"written as {', '.join(TABLE_SUFFIXES)}"
        )
    return suffix[1:]


def write_table(frame: Any, path: str | Path, *, what: str = "table") -> Path:
    """Write a pandas DataFrame as Parquet or CSV by the file's ending, checked by reading back.

    Raises:
        OutputError: another ending, or the write failed.
    """
    import pandas as pd

    fmt = table_format(path)

    def write(tmp: Path) -> None:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)

    def verify(tmp: Path) -> None:
        back = pd.read_csv(tmp) if fmt == "csv" else pd.read_parquet(tmp)
        if back.shape != frame.shape:
            raise OutputError(
                f"cannot write {what} {path}: read back {back.shape} rows x columns, "
                f"wrote {frame.shape}"
            )

    return atomic_write(path, write, verify=verify, what=what)
