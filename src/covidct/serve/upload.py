"""Streaming a multipart upload (field ``file``) to disk, with the size limit enforced as
the bytes arrive: an upload over the limit is cut off and its partial file removed.

The stored file gets a fixed name (``input`` + the recognised suffix); the user's file name
is kept only as text for display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from covidct.errors import InvalidInputError

__all__ = [
    "ACCEPTED_SUFFIXES",
    "StoredUpload",
    "UploadRejected",
    "input_suffix",
    "receive_upload",
]

#: suffixes of uploads the analysis can read (a zip holds a DICOM series or a CT folder).
ACCEPTED_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".mha", ".zip")
_FORM_OVERHEAD = 64 * 1024  # multipart headers and boundaries allowed beyond the file itself
_FIELD = "file"


class UploadRejected(InvalidInputError):
    """An upload refused before analysis; ``status_code`` is the HTTP status to answer."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class StoredUpload:
    """An upload on disk: the user's file name (display only), the stored path, its size."""

    filename: str
    path: Path
    size_bytes: int


def input_suffix(filename: str) -> str:
    """The accepted suffix ``filename`` ends with (case-insensitive), else UploadRejected."""
    lower = filename.lower()
    for suffix in ACCEPTED_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    raise UploadRejected(
        f"{display_name(filename)!r} is not a file the analysis reads; expected one of "
        + ", ".join(ACCEPTED_SUFFIXES) + " (a zip of a DICOM series or folder)", 415)


def display_name(filename: str) -> str:
    """The last path part of a client's file name, printable characters only, 120 at most."""
    base = re.split(r"[\\/]", filename)[-1]
    return "".join(c for c in base if c.isprintable())[:120] or "upload"


class _Sink:
    """Multipart callbacks: writes the part named ``file`` into ``dest_dir``, counting bytes."""

    def __init__(self, dest_dir: Path, max_bytes: int) -> None:
        self.dest_dir, self.max_bytes = dest_dir, max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.out = None
        self.stored: StoredUpload | None = None
        self.filename = ""
        self.size = 0
        self.other_bytes = 0

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if name != _FIELD or filename is None:
            return
        if self.out is not None or self.stored is not None:
            raise UploadRejected("send one file in the field 'file', not several")
        self.filename = filename.decode("utf-8", "replace")
        suffix = input_suffix(self.filename)
        self.path = self.dest_dir / f"input{suffix}"
        self.out = open(self.path, "xb")  # noqa: SIM115 -- closed in on_part_end / close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.out is None:
            self.other_bytes += n
            if self.other_bytes > _FORM_OVERHEAD:
                raise UploadRejected("form fields other than 'file' are too large", 413)
            return
        self.size += n
        if self.size > self.max_bytes:
            raise UploadRejected(
                f"the upload is larger than the limit of {self.max_bytes} bytes", 413)
        self.out.write(data[start:end])

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
            self.stored = StoredUpload(display_name(self.filename), self.path, self.size)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


async def receive_upload(request: Request, dest_dir: Path, *, max_bytes: int) -> StoredUpload:
    """Stream the request's multipart body; store field ``file`` in ``dest_dir``.

    Raises:
        UploadRejected: not multipart (400), no ``file`` field (400), an unreadable suffix
            (415), more than ``max_bytes`` (413, checked on Content-Length and while reading).
    """
    ctype, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRejected("send the study as multipart/form-data with a field 'file'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + _FORM_OVERHEAD:
        raise UploadRejected(
            f"the upload ({declared} bytes) is larger than the limit of {max_bytes} bytes", 413)
    sink = _Sink(dest_dir, max_bytes)
    callbacks = {name: getattr(sink, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value",
        "on_header_end", "on_headers_finished")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRejected(f"the multipart form is malformed: {exc}") from None
    except ClientDisconnect:
        raise UploadRejected("the client disconnected before the upload was complete") from None
    finally:
        sink.close()
    if sink.stored is None:
        raise UploadRejected("the form has no complete file in the field 'file'")
    if sink.stored.size_bytes == 0:
        raise UploadRejected(f"the uploaded file {sink.stored.filename!r} is empty")
    return sink.stored
