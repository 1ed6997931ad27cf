"""Benchmark: how long `promo` commands take to start and answer.

    .venv/bin/python bench/cli_startup.py               # 7 runs of each command
    .venv/bin/python bench/cli_startup.py --runs 15
    .venv/bin/python bench/cli_startup.py --compare-with /tmp/promo-before
                          # also runs the promo commands with the code of another checkout
                          # (e.g. `git archive <commit> | tar -x -C /tmp/promo-before`)

Every command runs as a fresh process, as a person or a script runs it, against a
freshly migrated SQLite database in a temporary directory (so `keys list` and
`db current` do their real work). Figures are the median wall time of --runs runs.
Baseline, measured in the same run: `python -c pass` (the interpreter alone) and
`python -c "import click"` (what any click command needs). Goal: `promo --help` under
0.5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")
HELP_GOAL_SECONDS = 0.5

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
    ("python -c 'import click' (baseline)", [sys.executable, "-c", "import click"]),
    ("promo --help", [PROMO, "--help"]),
    ("promo train --help", [PROMO, "train", "--help"]),
    ("promo keys list", [PROMO, "keys", "list"]),
    ("promo db current", [PROMO, "db", "current"]),
]


def median_seconds(argv: list[str], env: dict[str, str], runs: int, cwd: Path = ROOT) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare-with", type=Path, help="A checkout whose promo package to time as well.")
    args = parser.parse_args()
    commands = list(COMMANDS)
    if args.compare_with:
        # The same entry point, run from the other checkout's directory, which comes first
        # on the module path (before this checkout's editable install).
        commands += [(f"{name} (--compare-with)", [sys.executable, "-c", "from promo.cli import main; main()", *argv[1:]])
                     for name, argv in COMMANDS if argv[0] == PROMO]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PROMO_DATABASE_URL": f"sqlite:///{tmp}/promo.db", "PROMO_MODEL_DIR": f"{tmp}/models"}
        subprocess.run([PROMO, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        results = [(name, median_seconds(argv, env, args.runs,
                                         args.compare_with if "--compare-with" in name else ROOT))
                   for name, argv in commands]
    baseline = results[0][1]
    print(f"{'command':<56} {'median s':>9} {'vs python -c pass':>18}")
    for name, seconds in results:
        print(f"{name:<56} {seconds:>9.3f} {seconds / baseline:>17.1f}x")
    help_seconds = dict(results)["promo --help"]
    met = help_seconds < HELP_GOAL_SECONDS
    print(f"\ngoal: promo --help under {HELP_GOAL_SECONDS} s: {'met' if met else 'NOT met'} ({help_seconds:.3f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
