"""``python -m benchmarks.explain``: what an exact explanation costs, per application.

Measured in one process, on the bundle's reference applications:

* the score alone (``Scorer.score``: encoding + ONNX + calibration), for scale;
* one application explained (``Explainer.explain`` on its encoded row: TreeSHAP
  through LightGBM's C library, grouping by field, top reasons, JSON-ready
  dict), TreeSHAP alone, and the ``lightgbm`` package's
  ``Booster.predict(pred_contrib=True)`` with one thread and with its default threads;
* a batch of 1,000 explained in one call, per application;
* the same with a 500-tree model (same encoding and parameters, 500 rounds, no
  early stopping) trained here on synthetic rows.

Each figure is the median of ``--repeats`` runs; the load average is recorded
before and after. Results: ``docs/results/explain.json`` and ``.md``.

Usage:
    .venv/bin/python -m benchmarks.explain [--repeats 5] [--calls 300] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import bundle_dir, bundle_info, log, machine, md_table, wait_for_quiet, write_results

BATCH = 1_000
BIG_TREES = 500


CPU = {}  # the same figures in CPU time of this process (what a busy machine does not inflate)


def _per_call_us(function: Callable[[], Any], calls: int, repeats: int, key: str | None = None) -> float:
    """Median over ``repeats`` of the mean wall time of ``calls`` calls, in microseconds.

    The median CPU time per call (``time.process_time``) is kept in :data:`CPU` under ``key``.
    """
    function()  # warm-up
    runs, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            function()
        runs.append((time.perf_counter() - start) / calls * 1e6)
        cpu.append((time.process_time() - start_cpu) / calls * 1e6)
    if key is not None:
        CPU[key] = statistics.median(cpu)
    return statistics.median(runs)


def _cycle(rows: list[Any]) -> Callable[[], Any]:
    """Next row of ``rows`` at each call (so the timing is not one row's)."""
    iterator = itertools.cycle(rows)
    return lambda: next(iterator)


def _measure(explainer: Any, booster: Any, applications: list[dict[str, Any]], calls: int,
             repeats: int) -> dict[str, float]:
    from shared.encoding import encode

    matrix = encode(applications, explainer.state)
    singles = [(applications[i:i + 1], matrix[i:i + 1]) for i in range(len(applications))]
    nxt = _cycle(singles)

    def explain_one() -> None:
        apps, row = nxt()
        explainer.explain(apps, row)

    rows = _cycle([row for _, row in singles])
    CPU.clear()
    figures = {
        "single_explain_us": _per_call_us(explain_one, calls, repeats, "single_explain_cpu_us"),
        "single_treeshap_c_api_us": _per_call_us(lambda: explainer.model.contributions(rows()), calls, repeats,
                                                 "single_treeshap_c_api_cpu_us"),
        "single_lightgbm_predict_1_thread_us": _per_call_us(
            lambda: booster.predict(rows(), pred_contrib=True, num_threads=1), calls, repeats),
        "single_lightgbm_predict_default_threads_us": _per_call_us(
            lambda: booster.predict(rows(), pred_contrib=True), max(1, calls // 10), repeats),
        "batch_1000_per_application_us": _per_call_us(
            lambda: explainer.explain(applications[:BATCH], matrix[:BATCH]), 1, repeats, "batch_1000_cpu") / BATCH,
        "trees": explainer.model.num_trees(),
    }
    figures.update({k: v for k, v in CPU.items() if k != "batch_1000_cpu"})
    figures["batch_1000_per_application_cpu_us"] = CPU["batch_1000_cpu"] / BATCH
    return figures


def _big_model(state: Any, metadata: dict[str, Any]) -> Any:
    """A 500-tree booster with the bundle's encoding and parameters (trained on 20,000 synthetic rows)."""
    import lightgbm as lgb

    from shared.encoding import encode
    from training.synthetic import generate
    from training.train import TrainConfig, lightgbm_params

    frame = generate(20_000, seed=1)
    from training.data import to_records

    records = to_records(frame)
    params = lightgbm_params(TrainConfig(), metadata["training"]["scale_pos_weight"])
    params["metric"] = "none"
    dataset = lgb.Dataset(encode(records, state), frame["TARGET"].to_numpy(), params={"max_bin": params["max_bin"]})
    return lgb.train(params, dataset, num_boost_round=BIG_TREES)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle directory (default: MODEL_DIR or models/default)")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait for a 1-min load average below this")
    parser.add_argument("--max-wait", type=float, default=300, help="seconds to wait for it, at most")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (the median is kept)")
    parser.add_argument("--calls", type=int, default=300, help="single-application calls per run")
    args = parser.parse_args(argv)

    import lightgbm as lgb

    from shared.explain import Explainer
    from shared.scorer import Scorer
    from shared.treeshap import TreeShap
    from training.bundle import read_reference

    path = (args.bundle or bundle_dir()).resolve()
    wait_for_quiet(args.max_load, args.max_wait)
    before = machine()
    scorer = Scorer.load(path)
    explainer = Explainer.load(path, scorer.metadata)
    applications = [{k: v for k, v in row.items() if k != "score"}
                    for row in itertools.islice(read_reference(path / "reference.jsonl.gz"), BATCH)]
    log(f"bundle {scorer.model_version}: {explainer.model.num_trees()} trees, load {before['loadavg']}")
    nxt = _cycle(applications)
    score_us = _per_call_us(lambda: scorer.score(nxt()), args.calls, args.repeats, "score")
    score_cpu_us = CPU["score"]
    bundle = _measure(explainer, lgb.Booster(model_file=str(path / "model.txt")), applications, args.calls,
                      args.repeats)
    log(f"bundle model: {bundle}")
    booster = _big_model(explainer.state, scorer.metadata)
    with tempfile.TemporaryDirectory() as folder:
        booster.save_model(f"{folder}/model.txt")
        big = Explainer(TreeShap(f"{folder}/model.txt"), explainer.state, explainer.calibration)
    large = _measure(big, booster, applications, max(1, args.calls // 5), args.repeats)
    log(f"{BIG_TREES}-tree model: {large}")
    after = machine()
    data = {"machine": before, "loadavg_after": after["loadavg"], "bundle": bundle_info(path),
            "repeats": args.repeats, "calls": args.calls, "score_single_us": score_us,
            "score_single_cpu_us": score_cpu_us,
            "models": {"bundle": bundle, f"{BIG_TREES}_trees": large}}
    rows = [[name, m["trees"], m["single_explain_cpu_us"], m["single_explain_us"],
             m["single_treeshap_c_api_cpu_us"], m["single_treeshap_c_api_us"],
             m["single_lightgbm_predict_1_thread_us"], m["single_lightgbm_predict_default_threads_us"],
             m["batch_1000_per_application_cpu_us"], m["batch_1000_per_application_us"]]
            for name, m in data["models"].items()]
    markdown = "\n".join([
        "# Explanation cost per application",
        "",
        f"Command: `.venv/bin/python -m benchmarks.explain {' '.join(argv if argv is not None else sys.argv[1:])}`; "
        f"bundle `{scorer.model_version}`; {before['cpus']} CPUs ({before['cpu_model']}); load average "
        f"{before['loadavg']} before, {after['loadavg']} after (a shared machine: read the figures with it). "
        f"Medians of {args.repeats} runs, in microseconds.",
        "",
        f"Score alone (`Scorer.score`, one application): {score_cpu_us:,.0f} us CPU, {score_us:,.0f} us wall.",
        "",
        "CPU: this process's CPU time per call (`time.process_time`), what the work costs; wall: elapsed "
        "time, which a busy machine inflates (the process waits for a core).",
        "",
        md_table(["model", "trees", "explain one, CPU (us)", "explain one, wall (us)",
                  "TreeSHAP one, C API fast path, CPU (us)", "the same, wall (us)",
                  "lightgbm predict(pred_contrib) one, 1 thread, wall (us)", "the same, default threads, wall (us)",
                  "explain 1,000 in one call, CPU (us per application)", "the same, wall"], rows),
        "",
        "`explain one` is what `?explain=true` adds to a single answer: TreeSHAP through LightGBM's C "
        "library (single-row fast path, one thread), grouping by field, the top reasons. The two "
        "`lightgbm predict` columns are the Python package's `Booster.predict(X, pred_contrib=True)` on the "
        "same row, for comparison (same numbers).",
    ])
    write_results("explain", data, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
