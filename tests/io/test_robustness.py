"""Every hostile input of the catalogue gets exit code 2, one line naming the problem, and
leaves every file as it was (docs/robustness.md lists them all)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hostile import HOSTILE, Hostile
from typer.testing import CliRunner

from covidct.cli.app import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "robustness.md"


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("case", HOSTILE, ids=[h.key for h in HOSTILE])
def test_hostile_input_one_line_exit_2(case: Hostile, tmp_path: Path) -> None:
    args = case.make(tmp_path)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(app, args)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output and "/tmp/covidct-zip-" not in result.output
    assert case.expect.lower() in lines[0].lower(), lines[0]
    assert _snapshot(tmp_path) == before  # nothing written, nothing changed


def test_robustness_doc_lists_every_case() -> None:
    keys = set(re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert {h.key for h in HOSTILE} <= keys


def test_zip_size_cap_checked_before_unpacking(tmp_path, monkeypatch) -> None:
    """A zip that would unpack past the cap is refused, and nothing lands in /tmp."""
    import tempfile
    import zipfile

    from covidct.errors import InvalidInputError
    from covidct.io import read as read_module
    from covidct.io import read_ct

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", bytes(3 << 20))  # 3 MiB of zeros, ~3 kB deflated
    monkeypatch.setattr(read_module, "ZIP_MAX_BYTES", 2 << 20)
    made: list[str] = []
    monkeypatch.setattr(tempfile, "TemporaryDirectory",
                        lambda *a, **k: made.append("x") or pytest.fail("extracted"))
    with pytest.raises(InvalidInputError, match=r"would unpack to 3\.0 MiB .* at most 2 MiB"):
        read_ct(path)
    assert not made
