"""Checked atomic writes: past a file-size limit (as on a full disk) every write fails with
one error and leaves nothing; a good write reads back exactly."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidct.errors import InvalidInputError, OutputError
from covidct.io.atomic import check_output, write_json, write_table

SRC = str(Path(__file__).resolve().parents[2] / "src")
LIMIT = 4096  # bytes: every output below is larger


def _limited() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run_limited(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          preexec_fn=_limited, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("name", ["m.nii.gz", "m.nii", "m.nrrd", "m.mha", "m.mhd"])
def test_image_write_past_size_limit_fails_and_leaves_nothing(tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    res = _run_limited(f"""
        import numpy as np
        from covidct.errors import OutputError
        from covidct.io import CTVolume, write_image
        rng = np.random.default_rng(0)
        vol = CTVolume(rng.integers(-1000, 1000, (12, 40, 40)).astype(np.int16), (2.5, .8, .8))
        try:
            write_image(vol.array, vol, {str(out / name)!r})
        except OutputError as exc:
            print("OutputError:", exc)
        else:
            print("written")
    """, tmp_path)
    assert res.stdout.startswith("OutputError:"), res.stdout + res.stderr
    assert list(out.iterdir()) == []  # no target, no temporary file


@pytest.mark.parametrize("kind", ["parquet", "csv", "json"])
def test_table_and_json_write_past_size_limit(tmp_path, kind):
    res = _run_limited(f"""
        import numpy as np, pandas as pd
        from covidct.errors import OutputError
        from covidct.io.atomic import write_json, write_table
        frame = pd.DataFrame(np.random.default_rng(0).normal(size=(400, 20)))
        frame.columns = [f"c{{i}}" for i in range(20)]
        try:
            if {kind!r} == "json":
                write_json(frame.to_dict(), "t.json")
            else:
                write_table(frame, "t.{kind}")
        except OutputError as exc:
            print("OutputError:", exc)
    """, tmp_path)
    assert res.stdout.startswith("OutputError:"), res.stdout + res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_quantify_cli_past_size_limit_exit_2_one_line(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from hostile import chest

    from covidct.io import write_volume

    vol, lungs = chest()
    ct, m = tmp_path / "ct.nrrd", tmp_path / "lungs.nrrd"
    write_volume(vol, ct)
    write_volume(vol.with_array(lungs), m)
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "covidct.cli.app", "quantify", str(ct), "--lungs", str(m),
         "--out", str(tmp_path / "res")],
        env=env, preexec_fn=_limited, capture_output=True, text=True, timeout=300, check=False)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "cannot write" in lines[0], res.stderr
    assert [p for p in (tmp_path / "res").rglob("*") if p.is_file()] == []


def test_good_writes_read_back_exactly(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    pd.testing.assert_frame_equal(pd.read_parquet(write_table(frame, tmp_path / "t.parquet")),
                                  frame)
    assert write_json({"x": [1, 2]}, tmp_path / "x.json").read_text().startswith("{")
    with pytest.raises(OutputError, match="ending"):
        write_table(frame, tmp_path / "t.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet", "x.json"]


def test_check_output_spellings(tmp_path):
    src = tmp_path / "a.nii.gz"
    src.write_bytes(b"x")
    (tmp_path / "d").mkdir()
    os.symlink(src, tmp_path / "link.nii.gz")
    os.link(src, tmp_path / "hard.nii.gz")
    for spelling in (src, tmp_path / "d" / ".." / "a.nii.gz", tmp_path / "link.nii.gz",
                     tmp_path / "hard.nii.gz"):
        with pytest.raises(InvalidInputError, match="is the input"):
            check_output(spelling, [src])
    with pytest.raises(InvalidInputError, match="inside the input folder"):
        check_output(tmp_path / "d" / "x.csv", [tmp_path / "d"])
    with pytest.raises(InvalidInputError, match="contains the input"):
        check_output(tmp_path, [src])
    assert check_output(tmp_path / "b.csv", [src], suffixes=(".csv",)) == tmp_path / "b.csv"
    with pytest.raises(InvalidInputError, match="ending must match"):
        check_output(tmp_path / "b.xlsx", [src], suffixes=(".parquet", ".csv"))
