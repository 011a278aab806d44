"""Encoding speed, current ``shared.encoding.encode`` against another copy of the module (e.g. the previous one).

Checks the two give the same bits on the payload pool, then times both (median over
``--repeats`` passes, CPU µs per call) at each batch size.

Usage:
    git show <commit>:shared/encoding.py > /tmp/encoding_before.py
    .venv/bin/python -m benchmarks.encoding --before /tmp/encoding_before.py [--sizes 1,8,100,1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from benchmarks.common import bundle_dir, bundle_info, log, machine, md_table, write_results
from benchmarks.payloads import ensure_payloads


def load_module(path: Path) -> Any:
    """Import a copy of shared/encoding.py under another name."""
    spec = importlib.util.spec_from_file_location("encoding_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["encoding_before"] = module
    spec.loader.exec_module(module)
    return module


def cpu_us(fn: Any, rows: list[dict[str, Any]], calls: int, repeats: int) -> float:
    """Median over the repeats of the CPU µs per call."""
    fn(rows)
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn(rows)
        samples.append((time.process_time() - start) / calls * 1e6)
    return round(statistics.median(samples), 1)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other copy of shared/encoding.py")
    parser.add_argument("--sizes", default="1,8,100,1000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    from shared.encoding import encode
    from shared.scorer import Scorer

    before = load_module(args.before)
    state = Scorer.load(bundle_dir()).state
    old_state = before.EncodingState.from_dict(state.to_dict())
    apps = [orjson.loads(line) for line in Path(ensure_payloads()["applications"]).open("rb")]
    same = bool(np.array_equal(encode(apps, state), before.encode(apps, old_state), equal_nan=True))
    log(f"same bits on {len(apps)} applications: {same}")
    rows = []
    figures = {}
    for size in (int(s) for s in args.sizes.split(",")):
        chunk = apps[:size]
        calls = max(3, 2000 // size)
        old = cpu_us(lambda r: before.encode(r, old_state), chunk, calls, args.repeats)
        new = cpu_us(lambda r: encode(r, state), chunk, calls, args.repeats)
        figures[str(size)] = {"before_us": old, "after_us": new, "speed_up": round(old / new, 2)}
        rows.append([size, old, new, round(old / new, 2)])
    command = " ".join([".venv/bin/python -m benchmarks.encoding", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "same_bits": same, "sizes": figures, "command": command}
    markdown = (f"# Encoding: before vs after\n\nSame bits on {len(apps)} applications: {same}. Load average "
                f"{data['machine']['loadavg']}. CPU µs per call, median of {args.repeats}.\n\n"
                + md_table(["rows", "before µs", "after µs", "speed-up"], rows) + f"\nCommand: `{command}`\n")
    write_results("encoding", data, markdown)
    print(markdown)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
