"""CLI smoke test of ``features`` on one study with a mask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import typer
from typer.testing import CliRunner

from covidct.cli.features import features
from covidct.features import extract_radiomics
from covidct.io import write_volume

runner = CliRunner()
app = typer.Typer()
app.command()(features)


def test_features_cli_one_study(small_ct, tmp_path):
    volume, mask = small_ct
    ct, m = tmp_path / "ct.nrrd", tmp_path / "mask.nrrd"
    write_volume(volume, ct)
    write_volume(volume.with_array(mask), m)
    out = tmp_path / "f.csv"
    res = runner.invoke(app, [str(ct), "--mask", str(m), "--preset", "fast", "--csv", "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    expected = extract_radiomics(volume, mask, preset="fast")
    np.testing.assert_allclose(table[expected.index].to_numpy()[0], expected.to_numpy(), rtol=1e-6)
    bad = runner.invoke(app, [str(ct), "--mask", str(m), "--preset", "nope", "-o", str(out)])
    assert bad.exit_code == 2 and "preset" in bad.output
    assert "Example" in runner.invoke(app, ["--help"]).output
