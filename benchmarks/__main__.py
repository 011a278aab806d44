"""``python -m benchmarks all``: every benchmark in turn, after waiting (bounded) for a quiet machine.

Each step is also a command of its own (``python -m benchmarks.<name> --help``). The
1-minute load average is recorded before each step: on a shared machine, read the
figures with it.

Usage:
    .venv/bin/python -m benchmarks all [--quick] [--max-load 1.5] [--max-wait 600]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from benchmarks.common import ROOT, VENV_PY, loadavg1, log, wait_for_quiet

STEPS = {
    "accuracy": ["-m", "benchmarks.accuracy"],
    "inference": ["-m", "benchmarks.inference"],
    "explain": ["-m", "benchmarks.explain"],
    "profile": ["-m", "benchmarks.profile_request", "--tag", "current"],
    "live-profile": ["-m", "benchmarks.live_profile", "--tag", "current"],
    "endtoend": ["-m", "benchmarks.endtoend"],
    "async": ["-m", "benchmarks.async_jobs"],
    "indexing": ["-m", "benchmarks.indexing"],
}
QUICK = {"inference": ["--repeats", "2", "--rows", "1000"], "endtoend": ["--repeats", "1", "--duration", "5"],
         "async": ["--repeats", "1", "--duration", "5"], "indexing": ["--repeats", "1", "--events", "10000"],
         "profile": ["--requests", "1000"], "live-profile": ["--duration", "5"], "accuracy": ["--rows", "5000"],
         "explain": ["--repeats", "2", "--calls", "50"]}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["all", *STEPS])
    parser.add_argument("--quick", action="store_true", help="short runs (to check the scripts)")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait for a 1-min load average below this")
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for it, at most")
    args = parser.parse_args(argv)
    failed = []
    for name in STEPS if args.what == "all" else [args.what]:
        load = wait_for_quiet(args.max_load, args.max_wait)
        log(f"{name}: load average {load}" + ("" if load < args.max_load else " (machine still busy: noted)"))
        command = [str(VENV_PY), *STEPS[name], *(QUICK.get(name, []) if args.quick else [])]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
    log(f"done; load average now {loadavg1()}; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
