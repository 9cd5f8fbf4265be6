"""The CLI: fast start-up (lazy commands), `covidct analyze` and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from covidct.cli.app import LAZY_COMMANDS, app, load_command

runner = CliRunner()

HEAVY = ("torch", "sklearn", "SimpleITK", "scipy", "pandas", "matplotlib", "lightning",
         "pydicom", "highdicom", "covidct.report", "covidct.io")


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_start_up_imports_no_heavy_module(args):
    code = ("import sys\nfrom covidct.cli.app import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         encoding="utf-8")
    loaded = set(out.stdout.split("LOADED", 1)[1].strip(" []\n").replace("'", "").split(", "))
    assert not [m for m in HEAVY if m in loaded]
    if args == ["--help"]:
        for name in LAZY_COMMANDS:
            assert name in out.stdout


def test_summaries_match_the_commands():
    for name, (_, summary) in LAZY_COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=300) == summary, name


def test_analyze_cli_writes_report(sim_nifti, tmp_path):
    out = tmp_path / "rep"
    res = runner.invoke(app, ["analyze", str(sim_nifti), "-o", str(out), "--preset", "fast",
                              "--lung-preset", "bases"])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "report.json").read_text())
    assert record["provenance"]["options"]["analyze"]["lungs"]["select"]["min_view_ml"] == 30.0  # "bases"
    assert f"{100 * record['summary']['lesion_fraction']:.1f} % of lung involved" in res.output
    assert record["model"] is None and record["lungs"]["method"] == "hybrid"
    from covidct.lungs.choice import lung_choice_path
    from covidct.lungs.network import lung_model_paths
    from covidct.provenance import sha256_file

    assert record["lungs"]["lung_model"] == {
        "networks": [{"file": p.name, "sha256": sha256_file(p)} for p in lung_model_paths()],
        "choice": {"file": lung_choice_path().name, "sha256": sha256_file(lung_choice_path()),
                   "fitted_with_networks": True}}
    assert record["provenance"]["options"]["analyze"]["preset"] == "fast"
    assert "report:" in res.output


def test_analyze_cli_lesion_model_refused(sim_nifti, tmp_path):
    res = runner.invoke(app, ["analyze", str(sim_nifti), "-o", str(tmp_path / "r"),
                              "--lesion-model", str(tmp_path / "m.pt")])
    assert res.exit_code == 2
    assert "does not exist" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()
    res = runner.invoke(app, ["analyze", str(sim_nifti), "-o", str(tmp_path / "r"), "--lung-preset", "nope"])
    assert res.exit_code == 2 and "unknown lung preset" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_abdomen_dicom_no_lungs(abdomen_dir, tmp_path):
    out = tmp_path / "abd"
    res = runner.invoke(app, ["analyze", str(abdomen_dir / "dicom"), "-o", str(out), "--preset", "fast"])
    assert res.exit_code == 2
    assert "no plausible lungs" in res.output.lower() or "no lungs" in res.output.lower()
    assert "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_abdomen_nifti_no_lungs(abdomen_dir, tmp_path):
    out = tmp_path / "abd"
    res = runner.invoke(app, ["analyze", str(abdomen_dir / "abdomen_ct.nii.gz"), "-o", str(out),
                              "--preset", "fast"])
    assert res.exit_code == 2
    assert "lungs" in res.output.lower() and "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
