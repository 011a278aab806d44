"""Inference runtimes on the bundle's model: single row and batches, with their parity.

Runtimes (each scores the same encoded rows):

- ``sklearn+pandas``: ``LGBMClassifier.predict_proba`` on a pandas DataFrame built per call
  (what most peers do: ``pd.DataFrame([row])`` then the sklearn API);
- ``lightgbm-booster``: ``Booster.predict`` on the numpy matrix, 1 thread;
- ``onnxruntime-1t`` / ``onnxruntime-2t``: the bundle's ONNX model, 1 and 2 intra-op threads;
- ``lleaves``: the booster compiled to native code by LLVM (only when lleaves is installed:
  ``pip install lleaves``), 1 thread.

Also the encodings, for context: ``shared.encoding.encode`` (pure Python) and the
pandas one of the peer setup. Figures: median over ``--repeats`` passes of the mean
wall-clock microseconds per call (and per row), CPU time beside it.
Parity: max |p - p_lightgbm| and decision mismatches at the bundle's threshold, on all rows.

Usage:
    .venv/bin/python -m benchmarks.inference [--rows 2000] [--repeats 5] [--sizes 1,100,1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from benchmarks.common import BENCH_DIR, bundle_dir, bundle_info, log, machine, md_table, write_results
from benchmarks.payloads import ensure_payloads

Predict = Callable[[np.ndarray], np.ndarray]


def _onnx(path: Path, threads: int) -> Predict:
    from shared.scorer import Scorer

    scorer = Scorer.load(path, threads=threads)
    return scorer.predict_proba


def runtimes(path: Path, names: list[str]) -> dict[str, Predict]:
    """The runtimes to compare, each ``matrix -> probabilities``."""
    import lightgbm as lgb
    import pandas as pd

    from benchmarks.peer import sklearn_classifier

    booster = lgb.Booster(model_file=str(path / "model.txt"))
    clf = sklearn_classifier(path / "model.txt")
    out: dict[str, Predict] = {
        "sklearn+pandas": lambda m: clf.predict_proba(pd.DataFrame(m, columns=names))[:, 1],
        "lightgbm-booster": lambda m: booster.predict(m, num_threads=1),
        "onnxruntime-1t": _onnx(path, 1),
        "onnxruntime-2t": _onnx(path, 2),
    }
    try:
        import lleaves  # type: ignore[import-not-found]
    except ImportError:
        log("lleaves not installed: skipped (pip install lleaves)")
    else:
        cache = BENCH_DIR / "lleaves" / f"{bundle_info(path)['version']}.so"
        cache.parent.mkdir(parents=True, exist_ok=True)
        compiled = lleaves.Model(model_file=str(path / "model.txt"))
        started = time.perf_counter()
        compiled.compile(cache=str(cache))
        log(f"lleaves compiled in {time.perf_counter() - started:.1f} s")
        out["lleaves"] = lambda m: compiled.predict(m.astype(np.float64), n_jobs=1)
    return out


def time_calls(fn: Predict, batches: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Median over ``repeats`` passes of the mean wall and CPU µs per call."""
    for batch in batches[:20]:
        fn(batch)
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        for batch in batches:
            fn(batch)
        wall.append((time.perf_counter() - w) / len(batches) * 1e6)
        cpu.append((time.process_time() - c) / len(batches) * 1e6)
    return {"wall_us": round(statistics.median(wall), 1), "cpu_us": round(statistics.median(cpu), 1)}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="applications scored (from the payload pool)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="1,100,1000", help="batch sizes")
    args = parser.parse_args(argv)
    import pandas as pd

    from benchmarks.peer import pandas_encode
    from shared.encoding import encode
    from shared.scorer import Scorer

    path = bundle_dir()
    info = bundle_info(path)
    apps = [orjson.loads(line) for line in Path(ensure_payloads()["applications"]).open("rb")][: args.rows]
    for app in apps:
        app.pop("SK_ID_CURR", None)
    state = Scorer.load(path).state
    matrix = encode(apps, state)
    names = state.feature_names
    sizes = [int(s) for s in args.sizes.split(",")]
    log(f"bundle {info['version']} ({info['rows']} training rows), {len(apps)} rows, sizes {sizes}")
    fns = runtimes(path, names)
    reference = fns["lightgbm-booster"](matrix)
    threshold = float(info["threshold"])
    results: dict[str, Any] = {}
    for name, fn in fns.items():
        predicted = np.asarray(fn(matrix), dtype=np.float64)
        parity = {"max_abs_diff": float(np.max(np.abs(predicted - reference))),
                  "decision_mismatches": int(np.sum((predicted >= threshold) != (reference >= threshold)))}
        per_size = {}
        for size in sizes:
            batches = [matrix[i:i + size] for i in range(0, len(matrix) - size + 1, size)] or [matrix[:size]]
            if size == 1:
                batches = batches[:1000]
            figures = time_calls(fn, batches, args.repeats)
            figures["wall_us_per_row"] = round(figures["wall_us"] / size, 2)
            per_size[str(size)] = figures
            log(f"{name:18s} batch {size:5d}: {figures}")
        results[name] = {"parity": parity, "sizes": per_size}
    encodings = {}
    for size in sizes:
        chunks = [apps[i:i + size] for i in range(0, len(apps) - size + 1, size)][:1000 if size == 1 else None]
        encodings[str(size)] = {
            "shared.encode": time_calls(lambda rows: encode(rows, state), chunks, args.repeats),  # type: ignore[arg-type,return-value]
            "pandas (DataFrame + encode)": time_calls(
                lambda rows: pandas_encode(pd.DataFrame(rows), state), chunks[:200], max(1, args.repeats // 2)),  # type: ignore[arg-type,return-value]
        }
    data = {"machine": machine(), "bundle": info, "rows": len(apps), "repeats": args.repeats, "runtimes": results,
            "encodings": encodings, "command": " ".join([".venv/bin/python -m benchmarks.inference", *sys.argv[1:]])}
    rows = []
    for name, result in results.items():
        cells = [name]
        for size in sizes:
            f = result["sizes"][str(size)]
            cells.append(f"{f['wall_us']:,.1f} ({f['wall_us_per_row']:,.2f}/row)")
        cells += [f"{result['parity']['max_abs_diff']:.2e}", result["parity"]["decision_mismatches"]]
        rows.append(cells)
    enc_rows = [[kind, *[f"{encodings[str(s)][kind]['wall_us']:,.1f}" for s in sizes]]
                for kind in ("shared.encode", "pandas (DataFrame + encode)")]
    markdown = (f"# Inference runtimes\n\nBundle `{info['version']}` ({info['rows']} training rows, "
                f"{info['n_features']} features); load average {data['machine']['loadavg']}; "
                f"median of {args.repeats} passes.\n\nWall µs per call (per row):\n\n"
                + md_table(["runtime", *[f"batch {s}" for s in sizes], "max abs diff vs LightGBM",
                            "decision mismatches"], rows)
                + "\nEncoding, wall µs per call:\n\n" + md_table(["encoding", *[f"batch {s}" for s in sizes]], enc_rows)
                + f"\nCommand: `{data['command']}`\n")
    write_results("inference", data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
