"""The regime study's budget: `tfganaug train <yaml> --dry-run` for each sweep, parsed into dry_run.json.

    python docs/studies/gan_regimes/budget.py     # on the machine that will train, with nothing else running

Per cell (a data set's sweep point): classifier and GAN runs, steps a run, ms a step (the dry run's few
timed steps), hours, and hours per piece (one seed of one cell: its GAN and its twelve classifiers). The
dry run does not count GAN metrics, the real-trained classifier, synthesis or filtering: the measured
pieces (docs/studies/gan_regimes/README.md) say how far off it is.
"""

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
LONG = ["--set", "sweep={data.imbalance_ratio: [10, 100]}", "--set", "data.samples_per_class=500"]
SWEEPS = [("fashion", "balanced", []), ("fashion", "long-tailed", LONG),
          ("animal", "balanced", []), ("animal", "long-tailed", LONG)]
LINE = re.compile(r"^\s+(classifier|GAN) .*?(\d+) runs x \([\d.]+ s set-up \+ (\d+) steps x (\d+) ms\)")


def dry_run(data, extra):
    command = ["tfganaug", "train", f"experiments/gan_regimes_{data}.yaml", "--dry-run", *extra]
    text = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    cells, point = [], None
    for line in text.splitlines():
        if line.startswith("=== time of "):
            point = {"point": line[len("=== time of "):].strip(" ="), "models": {}}
            cells.append(point)
        elif point is not None and (match := LINE.match(line)):
            kind, runs, steps, ms = match.group(1), *map(int, match.group(2, 3, 4))
            point["models"][kind] = {"runs": runs, "steps_per_run": steps, "ms_per_step": ms,
                                     "hours": round(runs * steps * ms / 3.6e6, 2)}
    return " ".join(command[:4] + [f"'{a}'" if " " in a else a for a in command[4:]]), cells


def main():
    load = os.getloadavg()
    out = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average before "
                      f"{load[0]:.2f}", "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                                                  capture_output=True, text=True).stdout.strip(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cells": []}
    for data, sweep, extra in SWEEPS:
        command, cells = dry_run(data, extra)
        for cell in cells:
            seeds = cell["models"]["GAN"]["runs"]
            hours = sum(m["hours"] for m in cell["models"].values())
            out["cells"].append({"data": data, "sweep": sweep, "point": cell["point"], "command": command,
                                 "seeds": seeds, **cell["models"], "total_hours": round(hours, 2),
                                 "hours_per_piece": round(hours / seeds, 2)})
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    (HERE / "dry_run.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
