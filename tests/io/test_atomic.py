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
from covidct.io.atomic import check_output, read_json_object, write_json, write_table

SRC = str(Path(__file__).resolve().parents[2] / "src")
LIMIT = 4096  # bytes: every output below is larger


def _limited() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run_limited(code: str, cwd: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd, env=env,
                          preexec_fn=_limited, capture_output=True, text=True, timeout=300, check=False)


FORMATS = ["m.nii.gz", "m.nii", "m.nrrd", "m.mha", "m.mhd", "t.parquet", "t.csv", "t.json"]


def test_writes_past_size_limit_fail_and_leave_nothing(tmp_path):
    """Every image format, Parquet, CSV and JSON, in one child process under the limit."""
    res = _run_limited("""
        import numpy as np, pandas as pd, sys
        from pathlib import Path
        from covidct.errors import OutputError
        from covidct.io import CTVolume, write_image
        from covidct.io.atomic import write_json, write_table
        rng = np.random.default_rng(0)
        vol = CTVolume(rng.integers(-1000, 1000, (12, 40, 40)).astype(np.int16), (2.5, .8, .8))
        frame = pd.DataFrame(rng.normal(size=(400, 20)), columns=[f"c{i}" for i in range(20)])
        for name in sys.argv[1:]:
            out = Path(name.split(".")[0] + "-" + name.split(".", 1)[1].replace(".", "-"))
            out.mkdir()
            target = out / name
            try:
                if name.endswith(".json"):
                    write_json(frame.to_dict(), target)
                elif name.startswith("t."):
                    write_table(frame, target)
                else:
                    write_image(vol.array, vol, target)
            except OutputError as exc:
                print(name, "OutputError", sorted(p.name for p in out.iterdir()))
            else:
                print(name, "written")
    """, tmp_path, FORMATS)
    lines = res.stdout.splitlines()
    assert lines == [f"{name} OutputError []" for name in FORMATS], res.stdout + res.stderr


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


@pytest.mark.slow
def test_phantom_cli_past_size_limit_exit_2_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "covidct.cli.app", "phantom", str(tmp_path / "ph"), "-n", "1",
         "--size", "tiny"],
        env=env, preexec_fn=_limited, capture_output=True, text=True, timeout=300, check=False)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "was not written completely: it is truncated" in lines[0], lines
    assert [p for p in (tmp_path / "ph").rglob("*") if p.is_file()] == []


def test_read_json_object_round_trip_and_damage(tmp_path):
    data = {"accuracy": 0.8, "rows": [1, 2], "name": "run"}
    assert read_json_object(write_json(data, tmp_path / "m.json")) == data
    (tmp_path / "cut.json").write_text('{"accuracy": 0.8, "ro')
    with pytest.raises(InvalidInputError, match="cannot read .*cut.json"):
        read_json_object(tmp_path / "cut.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="holds no JSON object"):
        read_json_object(tmp_path / "list.json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        read_json_object(tmp_path / "absent.json")
