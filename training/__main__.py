"""``python -m training``: ``build`` a model bundle, ``generate`` synthetic data as a CSV,
``promote`` a registered version to champion after the gate, ``rollback`` to the previous champion.

Errors the user can fix (missing file, wrong columns, bad option) print one
line on stderr and exit with code 2, without a traceback. A promotion the gate
refuses prints the comparison and exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.exceptions import TrainingError

EXIT_REFUSED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Credit-scoring model builds and data.")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="train, pick the threshold, export ONNX and write a bundle")
    build.add_argument("--output", required=True, type=Path, help="bundle directory (replaced atomically)")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--rows", type=int, default=100_000, help="synthetic rows (default 100000)")
    source.add_argument("--data", type=Path, help="an application_train.csv file (Kaggle format) instead")
    build.add_argument("--seed", type=int, default=0, help="seed of the data, splits and LightGBM (default 0)")
    build.add_argument("--holdout", type=float, default=0.2, help="share kept out of the CV (default 0.2; 0: none)")
    build.add_argument("--folds", type=int, default=5, help="CV folds (default 5)")
    build.add_argument("--cost-fn", type=float, default=10.0, help="cost of a missed default (default 10)")
    build.add_argument("--cost-fp", type=float, default=1.0, help="cost of a refused good client (default 1)")
    build.add_argument("--threads", type=int, default=1, help="LightGBM threads (default 1)")
    build.add_argument(
        "--rounds", type=int, default=None,
        help="a fixed number of trees, without early stopping (default: early stopping picks it)",
    )
    build.add_argument("--learning-rate", type=float, default=0.1, help="boosting learning rate (default 0.1)")
    build.add_argument("--num-leaves", type=int, default=31, help="leaves per tree (default 31)")
    build.add_argument(
        "--pos-weight", type=float, default=None,
        help="weight of a default in training (default: negatives/positives); the scores are calibrated either way",
    )
    build.add_argument("--reference-rows", type=int, default=20_000, help="rows of the reference sample")
    build.add_argument("--no-mlflow", action="store_true", help="do not track the build in MLflow")

    generate = sub.add_parser("generate", help="write synthetic rows as a CSV in the Kaggle format")
    generate.add_argument("--rows", type=int, required=True, help="number of rows")
    generate.add_argument("--output", required=True, type=Path, help="CSV file to write")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    generate.add_argument(
        "--drift",
        help='drift as JSON, e.g. \'{"income_factor": 1.3, "category_shift": {"NAME_CONTRACT_TYPE": '
        '{"Cash loans": 0.6, "Revolving loans": 0.4}}, "ext_source_missing_extra": 0.2}\' (or @file.json)',
    )

    promote = sub.add_parser("promote", help="make a registered version champion, after the gate")
    target = promote.add_mutually_exclusive_group()
    target.add_argument("--version", help="the registered version of credit-scoring to promote")
    target.add_argument("--alias", help="the alias naming it (default: challenger)")
    promote.add_argument("--force", action="store_true", help="promote even if the gate refuses (recorded as forced)")
    promote.add_argument("--evaluation-data", type=Path,
                         help="a labelled CSV (Kaggle format) as the registry's evaluation set; only before the "
                              "first gate (default: synthetic applications from a fixed seed)")
    sub.add_parser("rollback", help="move champion back to the previous champion")
    register = sub.add_parser("register", help="register an existing bundle in MLflow (challenger, or champion "
                                               "when the registry has none)")
    register.add_argument("--bundle", required=True, type=Path, help="a bundle directory (with model.txt)")
    register.add_argument("--json", action="store_true", help="print {model_version, alias} as JSON")
    return parser


def _check(args: argparse.Namespace) -> None:
    rows = getattr(args, "rows", None)
    if args.command == "register":
        if not (args.bundle / "metadata.json").is_file() or not (args.bundle / "model.txt").is_file():
            raise TrainingError(f"{args.bundle}: not a bundle (metadata.json and model.txt needed)")
        return
    if args.command in ("promote", "rollback"):
        if getattr(args, "evaluation_data", None) is not None and not args.evaluation_data.is_file():
            raise TrainingError(f"{args.evaluation_data}: no such file")
        return
    if args.command == "generate" or getattr(args, "data", None) is None:
        if rows is None or rows < 1:
            raise TrainingError(f"--rows must be >= 1, got {rows}")
    if args.command == "build":
        if args.data is not None and not args.data.is_file():  # before the slow imports
            raise TrainingError(f"{args.data}: no such file")
        if not 0 <= args.holdout < 0.9:
            raise TrainingError(f"--holdout must be in [0, 0.9), got {args.holdout}")
        if args.folds < 2:
            raise TrainingError(f"--folds must be >= 2, got {args.folds}")
        if args.cost_fn <= 0 or args.cost_fp <= 0:
            raise TrainingError("--cost-fn and --cost-fp must be > 0")
        if args.num_leaves < 2:
            raise TrainingError(f"--num-leaves must be >= 2, got {args.num_leaves}")
        if args.rounds is not None and args.rounds < 1:
            raise TrainingError(f"--rounds must be >= 1, got {args.rounds}")
        if not 0 < args.learning_rate <= 1:
            raise TrainingError(f"--learning-rate must be in (0, 1], got {args.learning_rate}")
        if args.threads < 1:
            raise TrainingError(f"--threads must be >= 1, got {args.threads}")
        if args.pos_weight is not None and args.pos_weight <= 0:
            raise TrainingError(f"--pos-weight must be > 0, got {args.pos_weight}")


def _drift(text: str | None) -> Any:
    if not text:
        return None
    from training.synthetic import Drift

    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise TrainingError(f"--drift: cannot read {text[1:]}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainingError(f"--drift is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TrainingError("--drift must be a JSON object")
    try:
        return Drift.from_dict(data)
    except TypeError as exc:
        raise TrainingError(f"--drift: {exc}") from exc


def _generate(args: argparse.Namespace) -> None:
    import time

    from training.synthetic import generate

    start = time.perf_counter()
    drift = _drift(args.drift)
    df = generate(args.rows, seed=args.seed, drift=drift)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.output, index=False)
    print(
        f"wrote {len(df):,} rows x {df.shape[1]} columns to {args.output} "
        f"(seed {args.seed}{', drifted' if drift else ''}, target rate {df['TARGET'].mean():.2%}) "
        f"in {time.perf_counter() - start:.1f}s"
    )


def _build(args: argparse.Namespace) -> None:
    from training.pipeline import BuildConfig, build
    from training.threshold import Costs
    from training.train import TrainConfig

    config = BuildConfig(
        output=args.output,
        rows=args.rows,
        data=args.data,
        seed=args.seed,
        holdout=args.holdout,
        costs=Costs(fn=args.cost_fn, fp=args.cost_fp),
        train=TrainConfig(folds=args.folds, seed=args.seed, threads=args.threads, pos_weight=args.pos_weight,
                          rounds=args.rounds, learning_rate=args.learning_rate,
                          num_leaves=args.num_leaves),
        reference_rows=args.reference_rows,
        mlflow=not args.no_mlflow,
    )
    result = build(config, log=lambda line: print(line, flush=True))
    print(summary(result.metadata, result.output, result.seconds))
    if result.metadata.get("mlflow"):
        _announce_challenger(result.metadata["mlflow"])


def _announce_challenger(info: dict[str, Any]) -> None:
    """A new challenger starts being shadowed at once (with ``REDIS_URL`` set)."""
    if info.get("alias") != "challenger":
        return
    from training import announce, registry

    uri = registry.bundle_uri(registry.client(), str(info["model_version"]))
    if announce.publish_challenger(str(info["model_version"]), uri):
        print(f"challenger v{info['model_version']} published: the indexers shadow-score {uri}")


def summary(metadata: dict[str, Any], output: Path, seconds: float) -> str:
    """The end-of-build summary printed by the CLI."""
    m, t, p, d = metadata["metrics"], metadata["threshold"], metadata["parity"], metadata["data"]
    lines = [
        "",
        f"bundle {metadata['version']} written to {output} in {seconds:.1f}s",
        f"  data        {d['source']}, {d['rows']:,} rows, target rate {d['target_rate']:.2%}",
        f"  AUC         out-of-fold {m['auc']:.4f} (folds {m['cv_auc_mean']:.4f} +/- {m['cv_auc_std']:.4f})"
        + (f", holdout {m['holdout_auc']:.4f}" if "holdout_auc" in m else ""),
    ]
    c = metadata.get("calibration")
    if c:
        oof = m["oof"]
        base = (oof["tp"] + oof["fn"]) / oof["rows"]
        lines.append(
            f"  calibration Platt a={c['a']:.4f} b={c['b']:.4f} on the OOF scores: Brier {c['brier_raw']:.4f} raw -> "
            f"{c['brier_calibrated']:.4f} calibrated (base rate's {base * (1 - base):.4f})"
        )
    lines += [
        f"  threshold   {t['value']:.4f} (" + (f"raw score {t['raw_value']:.4f}; " if "raw_value" in t else "")
        + f"cost FN={t['cost_fn']:g}, FP={t['cost_fp']:g})",
        f"  at it (OOF) cost/application {m['cost_per_application']:.4f}, recall {m['recall']:.3f}, "
        f"precision {m['precision']:.3f}, refused {m['refusal_rate']:.1%}, Brier {m['brier']:.4f}",
    ]
    if "holdout" in m:
        h = m["holdout"]
        lines.append(
            f"  holdout     cost/application {h['cost_per_application']:.4f}, recall {h['recall']:.3f}, "
            f"precision {h['precision']:.3f}, refused {h['refusal_rate']:.1%}, Brier {h['brier']:.4f}"
            + (f" (raw {h['brier_raw']:.4f})" if "brier_raw" in h else "")
        )
    lines.append(
        f"  parity      {p['rows']:,} rows, max |p_onnx - p_lightgbm| {p['max_abs_diff']:.2e}, "
        f"{p['decision_mismatches']} decision mismatch(es)"
        + (f", {p['calibrated_decision_mismatches']} on calibrated probabilities"
           if "calibrated_decision_mismatches" in p else "")
    )
    comparison = metadata.get("gender_comparison")
    if comparison:
        fairness = metadata.get("fairness", {}).get("disparate_impact", {})
        ratios = ", ".join(f"{k} {v:.3f}" for k, v in fairness.items() if v is not None)
        lines.append(
            f"  fairness    ships {comparison['shipped'].replace('_', ' ')} (cost/application "
            f"{comparison['extra_cost_without_gender']:+.2%} without CODE_GENDER, {comparison['compared_on']}); "
            f"disparate impact {ratios or 'n/a'}; model card: model_card.md"
        )
    if metadata.get("mlflow"):
        ml = metadata["mlflow"]
        lines.append(
            f"  mlflow      run {ml['run_id']}, model {ml['model_name']} v{ml['model_version']} (alias {ml['alias']})"
        )
    return "\n".join(lines)


def _register(args: argparse.Namespace) -> None:
    import lightgbm as lgb

    from training.bundle import read_metadata
    from training.tracking import track_build

    metadata = read_metadata(args.bundle)
    metadata.pop("mlflow", None)  # a bundle built elsewhere: its former run is not this registry's
    info = track_build(args.bundle, metadata, lgb.Booster(model_file=str(args.bundle / "model.txt")))
    _announce_challenger(info)
    if args.json:
        print(json.dumps({"model_version": info["model_version"], "alias": info["alias"]}))
    else:
        print(f"registered {info['model_name']} v{info['model_version']} as {info['alias']}")


def _move(args: argparse.Namespace) -> int:
    from training import announce, registry

    if args.command == "rollback":
        move = registry.rollback()
    else:
        try:
            move = registry.promote(args.version, args.alias, force=args.force, data=args.evaluation_data)
        except registry.PromotionRefused as exc:
            announce.record(registry.Move("refused", exc.champion, exc.candidate, gate=exc.result.to_dict()))
            print(f"refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    announce.record(move)
    notice = announce.publish(move)
    if move.action == "promote":
        mlflow_client = registry.client()
        challenger = registry.alias_version(mlflow_client, "challenger")
        announce.publish_challenger(challenger, registry.bundle_uri(mlflow_client, challenger) if challenger else None)
    print(f"{move.action}: champion v{move.from_version} -> v{move.to_version}"
          + (" (forced past the gate)" if move.forced else "")
          + ("; serving processes notified through Redis" if notice else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check(args)
        if args.command == "generate":
            _generate(args)
        elif args.command in ("promote", "rollback"):
            return _move(args)
        elif args.command == "register":
            _register(args)
        else:
            _build(args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
