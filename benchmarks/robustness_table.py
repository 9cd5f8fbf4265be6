"""Write the hostile-input table of docs/robustness.md from what the commands really print.

Run: PYTHONPATH=src python benchmarks/robustness_table.py > /tmp/table.md

Each row of ``tests/io/hostile.py``'s catalogue is built in a scratch folder, the command is
run through the CLI, and its exit code and one-line message are recorded (scratch paths
shortened to ``…/``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "io"))

from hostile import HOSTILE

from covidct.cli.app import app


def main() -> None:
    print("| key | bad input | command | exit | message (first 160 characters) |")
    print("|---|---|---|---|---|")
    for case in HOSTILE:
        with tempfile.TemporaryDirectory() as tmp:
            args = case.make(Path(tmp))
            result = CliRunner().invoke(app, args)
            line = (result.stderr.strip().splitlines() or [""])[0]
            line = line.replace(str(Path(tmp).resolve()) + "/", "…/").replace(tmp + "/", "…/")
            cmd = " ".join(a.replace(tmp + "/", "").replace(str(Path(tmp).resolve()) + "/", "")
                           for a in args)
        msg = line[:160].replace("|", "\\|") + ("…" if len(line) > 160 else "")
        print(f"| `{case.key}` | {case.what} | `covidct {cmd}` | {result.exit_code} | {msg} |")


if __name__ == "__main__":
    main()
