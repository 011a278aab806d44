"""Pre-generate the request bodies the load tests and the benchmarks send.

Realistic applications come from the training package's synthetic generator
(the same copula as the training data); the load tests then only read JSON
lines, so ``load_tests/`` imports nothing but the standard library.

Writes, under ``results/data/`` (or ``--out``):

- ``applications.jsonl``: one API-ready application per line (SK_ID_CURR + 120 features);
- ``v2_inputs.jsonl``: the same applications encoded with the bundle's encoding, as
  Open Inference Protocol (V2) bodies, for MLServer (which takes encoded features);
- ``bundle_version.txt``: the bundle they were encoded for (a new bundle regenerates them).

Usage:
    .venv/bin/python -m benchmarks.payloads [--n 2000] [--seed 7] [--out results/data]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import orjson

from benchmarks.common import DATA_DIR, bundle_dir, bundle_info, log

V2_INPUT_NAME = "input-0"


def v2_body(vector: list[float]) -> bytes:
    """An Open Inference Protocol request for one encoded row.

    JSON has no NaN: a missing value is ``null``, which MLServer's numpy codec turns back into NaN.
    """
    data = "[" + ",".join("null" if math.isnan(v) else repr(v) for v in vector) + "]"
    return (b'{"inputs":[{"name":"' + V2_INPUT_NAME.encode() + b'","shape":[1,' + str(len(vector)).encode()
            + b'],"datatype":"FP32","data":' + data.encode() + b"}]}")


def write_payloads(n: int, seed: int, out: Path) -> dict[str, Path]:
    """Generate ``n`` applications and write both JSONL files; returns their paths."""
    from shared.encoding import encode
    from shared.scorer import Scorer
    from training.synthetic import generate_applications

    out.mkdir(parents=True, exist_ok=True)
    applications = generate_applications(n, seed=seed)
    state = Scorer.load(bundle_dir()).state
    apps_path, v2_path = out / "applications.jsonl", out / "v2_inputs.jsonl"
    (out / "bundle_version.txt").write_text(str(bundle_info()["version"]))
    with apps_path.open("wb") as f:
        for app in applications:
            f.write(orjson.dumps(app) + b"\n")
    matrix = encode(applications, state)
    with v2_path.open("wb") as f:
        for row in matrix.tolist():
            f.write(v2_body(row) + b"\n")
    return {"applications": apps_path, "v2_inputs": v2_path}


def ensure_payloads(n: int = 2000, seed: int = 7, out: Path = DATA_DIR) -> dict[str, Path]:
    """The payload files, generated when missing or encoded for another bundle."""
    paths = {"applications": out / "applications.jsonl", "v2_inputs": out / "v2_inputs.jsonl"}
    version = out / "bundle_version.txt"
    if all(p.is_file() and p.stat().st_size for p in paths.values()) and version.is_file() \
            and version.read_text() == str(bundle_info()["version"]):
        return paths
    return write_payloads(n, seed, out)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="applications to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    paths = write_payloads(args.n, args.seed, args.out)
    for name, path in paths.items():
        log(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
