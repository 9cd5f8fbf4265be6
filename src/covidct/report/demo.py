"""``covidct demo``: a simulated COVID-19 study and the real sample CTs, analysed with the
demo model shipped in the package. Needs no network: the real samples are used only when
they are already on this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from covidct.errors import DataUnavailableError
from covidct.report.models import demo_model_path
from covidct.report.options import AnalyzeOptions
from covidct.report.write import ReportFiles, analyze_to_folder

__all__ = ["DEMO_SEED", "run_demo", "simulated_study"]

#: seed of the simulated study (a COVID-19 case of the "small" phantom size).
DEMO_SEED = 11


def simulated_study(folder: Path, *, seed: int = DEMO_SEED) -> Path:
    """Simulate one COVID-19 chest CT and write it as NIfTI into ``folder``; returns the file."""
    from covidct.io.write import write_volume
    from covidct.phantom import simulate_case

    case = simulate_case(seed, diagnosis="covid", size="small")
    folder.mkdir(parents=True, exist_ok=True)
    return write_volume(case.volume, folder / "simulated_covid.nii.gz")


def run_demo(
    out: str | Path,
    *,
    real_samples: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[ReportFiles]:
    """Analyse a simulated COVID-19 study (and the real samples present) with the demo model.

    Reports go to ``out/<study>/report.html``. Raises DataUnavailableError when the demo
    model is not installed.
    """
    if demo_model_path() is None:
        raise DataUnavailableError("the demo model is not installed (covidct/data/models); "
                                   "see benchmarks/train_demo_model.py")
    from covidct.io.samples import list_samples

    out = Path(out)
    say = progress or (lambda _msg: None)
    opts = AnalyzeOptions(preset="demo")
    say("simulating a COVID-19 study")
    studies: list[tuple[str, Path]] = [("simulated_covid", simulated_study(out / "inputs"))]
    if real_samples:
        studies += [(f"sample_{s.name}", p) for s, p in list_samples(fetch=False) if p is not None]
    reports = []
    for name, path in studies:
        say(f"analysing {name}")
        reports.append(analyze_to_folder(path, out / name, options=opts, name=name,
                                         progress=lambda m: say(f"  {m}")))
    return reports
