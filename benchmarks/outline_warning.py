"""How well the "outline in consolidation" warning of ``quantify`` marks the scans whose lungs
(and involvement) came out low: rows of ``lung_model_validation.py --json`` split at the
warning's share.

Usage:
  .venv/bin/python benchmarks/outline_warning.py ROWS.json ... [--method hybrid] [--cases]

For the scans warned and not warned (``covidct.lesions.quantify.OUTLINE_WARN_SHARE`` of the
lungs' outline in consolidation, end to end with the method's lungs): how many, how many
read lung Dice < 0.95 or an involvement error beyond 0.05, and the ranges of both. Clear
scans count among the scans not warned when their outline stays under the share; a case
named in several files (the clear scan of each case set) counts once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from covidct.lesions.quantify import OUTLINE_WARN_SHARE


def summary(rows: list[dict], share: float = OUTLINE_WARN_SHARE) -> list[dict]:
    """One line per group ("warned", "not warned"): cases, Dice < 0.95, |error| > 0.05 and
    the ranges of Dice and error (painted cases; clear scans have no error)."""
    out = []
    for name, group in (("warned", [r for r in rows if r["outline_consolidated"] >= share]),
                        ("not warned", [r for r in rows if r["outline_consolidated"] < share])):
        painted = [r for r in group if "error" in r]
        dices, errors = [r["dice"] for r in group], [r["error"] for r in painted]
        out.append({"group": name, "cases": len(group), "clear": len(group) - len(painted),
                    "dice_below_0.95": sum(d < 0.95 for d in dices),
                    "error_beyond_0.05": sum(abs(e) > 0.05 for e in errors),
                    "dice": (min(dices), max(dices)) if dices else None,
                    "error": (min(errors), max(errors)) if errors else None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", type=Path, help="lung_model_validation.py --json files")
    parser.add_argument("--method", default="hybrid")
    parser.add_argument("--cases", action="store_true", help="also list every case")
    args = parser.parse_args()
    # each case set repeats the clear scan: one row per case
    rows = list({r["case"]: r for f in args.rows for r in json.loads(f.read_text())
                 if r["method"] == args.method}.values())
    if args.cases:
        for r in sorted(rows, key=lambda r: r["outline_consolidated"]):
            error = f"{r['error']:+.3f}" if "error" in r else "clear"
            print(f"{r['case']:<34} outline {r['outline_consolidated']:.3f}  dice {r['dice']:.3f}  error {error}")
    print(f"warning at >= {OUTLINE_WARN_SHARE:.2f} of the outline in consolidation ({args.method})")
    print(f"{'group':<11} {'cases':>5} {'clear':>5} {'dice<0.95':>9} {'|err|>0.05':>10} {'dice':>13} {'error':>15}")
    for s in summary(rows):
        dice = f"{s['dice'][0]:.3f}-{s['dice'][1]:.3f}" if s["dice"] else "-"
        error = f"{s['error'][0]:+.3f}..{s['error'][1]:+.3f}" if s["error"] else "-"
        print(f"{s['group']:<11} {s['cases']:>5} {s['clear']:>5} {s['dice_below_0.95']:>9} "
              f"{s['error_beyond_0.05']:>10} {dice:>13} {error:>15}")


if __name__ == "__main__":
    main()
