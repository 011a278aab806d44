"""The model card: ``model_card.md``, written into every bundle from its metadata.

Everything in it is read from ``metadata.json`` (no figure is typed by hand),
so the card and the bundle cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.fairness import AGE_BAND_NAMES, MIN_GROUP_SIZE
from training.variants import GENDER, WITH_GENDER, WITHOUT_GENDER

TOP_IMPORTANCE = 15


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(values: list[float] | None, digits: int = 4, percent: bool = False) -> str:
    if not values:
        return "n/a"
    if percent:
        return f"[{values[0]:.1%}, {values[1]:.1%}]"
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def _data(metadata: dict[str, Any]) -> list[str]:
    data = metadata["data"]
    if data["source"] == "synthetic":
        origin = (f"synthetic applications (seed {data['seed']}) drawn from a generator calibrated on the public "
                  "profile of Home Credit's `application_train` table (column types, missing shares, "
                  "category frequencies, marginal distributions)")
    else:
        origin = f"the CSV file `{data['path']}` (sha256 `{data['file_sha256'][:16]}...`)"
    training = metadata["training"]
    return [
        "## Training data",
        "",
        f"- Source: {origin}.",
        f"- Rows: {data['rows']:,}, default rate {data['target_rate']:.2%}; fingerprint `{data['fingerprint'][:16]}`.",
        f"- Split: {training['rows_cv']:,} rows for the {training['folds']}-fold cross-validation, "
        f"{training['rows_holdout']:,} kept out as a holdout; the final model is refitted on all "
        f"{training['rows_final']:,} rows with {training['final_rounds']} boosting rounds.",
        "",
    ]


def _metrics(metadata: dict[str, Any]) -> list[str]:
    metrics = metadata["metrics"]
    comparison = metadata.get("gender_comparison", {})
    shipped = comparison.get(comparison.get("shipped", ""), {})
    intervals = shipped.get("intervals", {})
    evaluated_on = comparison.get("compared_on", "holdout")
    rows = [("AUC", _num(metrics["auc"]), _num(metrics.get("holdout", {}).get("auc")),
             _interval(intervals.get("auc"))),
            ("cost per application", _num(metrics["cost_per_application"]),
             _num(metrics.get("holdout", {}).get("cost_per_application")),
             _interval(intervals.get("cost_per_application"))),
            ("refusal rate", _pct(metrics["refusal_rate"]), _pct(metrics.get("holdout", {}).get("refusal_rate")),
             _interval(intervals.get("refusal_rate"), percent=True)),
            ("recall (defaults refused)", _num(metrics["recall"], 3),
             _num(metrics.get("holdout", {}).get("recall"), 3), ""),
            ("precision (refusals that default)", _num(metrics["precision"], 3),
             _num(metrics.get("holdout", {}).get("precision"), 3), ""),
            ("Brier score (calibrated)", _num(metrics["brier"]), _num(metrics.get("holdout", {}).get("brier")), "")]
    level = intervals.get("level", 0.95)
    lines = [
        "## Metrics",
        "",
        f"At the decision threshold. Out-of-fold: scores of rows no fold model saw; the interval is a "
        f"{level:.0%} percentile bootstrap ({intervals.get('resamples', 'n/a')} resamples) on the {evaluated_on}.",
        "",
        f"| metric | out-of-fold | holdout | {level:.0%} interval ({evaluated_on}) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {oof} | {hold} | {ci} |" for name, oof, hold, ci in rows]
    lines += ["", f"Cross-validation AUC per fold: {metrics['cv_auc_mean']:.4f} +/- {metrics['cv_auc_std']:.4f}.", ""]
    return lines


def _threshold(metadata: dict[str, Any]) -> list[str]:
    threshold, calibration = metadata["threshold"], metadata.get("calibration")
    lines = [
        "## Threshold and its cost rule",
        "",
        f"An application is refused when its probability of default is >= **{threshold['value']:.4f}**. "
        f"The threshold minimises `{threshold['cost_fn']:g} x missed defaults + {threshold['cost_fp']:g} x refused "
        f"good clients` over the {threshold['chosen_on']} "
        f"(cost per application there: {threshold['cost_per_application']:.4f}).",
        "",
        "## Calibration",
        "",
    ]
    if calibration:
        lines.append(
            f"The model is trained with the defaults weighted up (class imbalance), so its raw output ranks but "
            f"overstates the risk. Platt scaling `p = sigmoid(a * margin + b)` with a = {calibration['a']:.4f}, "
            f"b = {calibration['b']:.4f}, fitted on the {calibration['rows']:,} {calibration['fitted_on']}, turns it "
            f"into a probability of default: Brier score {calibration['brier_raw']:.4f} raw, "
            f"{calibration['brier_calibrated']:.4f} calibrated."
        )
    else:
        lines.append("This bundle has no calibration: the model's output is served as it is.")
    return lines + [""]


def _group_rows(groups: dict[str, dict[str, Any]], order: list[str]) -> list[str]:
    rows = []
    for name in order:
        if name in groups:
            g = groups[name]
            rows.append(f"| {name} | {g['n']:,} | {_pct(g['approval_rate'])} | {_pct(g['tpr'])} | {_pct(g['fpr'])} |")
    return rows


def _fairness(metadata: dict[str, Any]) -> list[str]:
    fairness = metadata.get("fairness")
    if not fairness:
        return []
    header = ["| group | applications | approval rate | TPR (defaults refused) | FPR (good clients refused) |",
              "|---|---|---|---|---|"]
    gender = fairness[GENDER]
    ages = fairness["age_band"]
    ratio = fairness["disparate_impact"]
    lines = [
        "## Fairness",
        "",
        f"Decisions of the shipped model on the {fairness.get('evaluated_on', 'holdout')}. Age = "
        "floor(-DAYS_BIRTH / 365.25). The disparate-impact ratio is the lowest approval rate over the highest, "
        f"among groups of at least {MIN_GROUP_SIZE} applications (`XNA` reported, left out of the ratio); "
        "0.8 is the usual four-fifths benchmark.",
        "",
        f"### By {GENDER} (disparate impact {_num(ratio[GENDER], 3)})",
        "",
        *header,
        *_group_rows(gender, sorted(gender)),
        "",
        f"### By age band (disparate impact {_num(ratio['age_band'], 3)})",
        "",
        *header,
        *_group_rows(ages, [*AGE_BAND_NAMES, "unknown"]),
        "",
    ]
    comparison = metadata.get("gender_comparison")
    if comparison:
        lines += [
            f"### With and without {GENDER}",
            "",
            f"The same model was trained twice, with and without {GENDER}; {comparison['rule']} "
            f"(compared on the {comparison['compared_on']}). Shipped: **{comparison['shipped'].replace('_', ' ')}** "
            f"(cost per application {comparison['extra_cost_without_gender']:+.2%} without the gender).",
            "",
            "| model | features | AUC | cost per application | refusal rate | disparate impact (gender) "
            "| disparate impact (age) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in (WITH_GENDER, WITHOUT_GENDER):
            v = comparison[name]
            di = v["fairness"]["disparate_impact"]
            lines.append(f"| {name.replace('_', ' ')} | {v['features']} | {v['auc']:.4f} | "
                         f"{v['cost_per_application']:.4f} {_interval(v['intervals']['cost_per_application'])} | "
                         f"{_pct(v['refusal_rate'])} | {_num(di[GENDER], 3)} | {_num(di['age_band'], 3)} |")
        lines.append("")
    return lines


def _importance(metadata: dict[str, Any]) -> list[str]:
    importance = metadata.get("importance")
    if not importance:
        return []
    lines = [
        "## Global importance",
        "",
        f"Mean absolute contribution to the calibrated log-odds over the {metadata['reference']['rows']:,} rows of "
        f"the reference sample (exact TreeSHAP, per field), the {min(TOP_IMPORTANCE, len(importance))} largest:",
        "",
        "| field | mean abs contribution |",
        "|---|---|",
    ]
    lines += [f"| {i['field']} | {i['mean_abs_contribution']:.4f} |" for i in importance[:TOP_IMPORTANCE]]
    return lines + [""]


def render(metadata: dict[str, Any]) -> str:
    """The model card of a bundle, as markdown, from its metadata."""
    training = metadata["training"]
    synthetic = metadata["data"]["source"] == "synthetic"
    lines = [
        f"# Model card: credit default risk, version {metadata['version']}",
        "",
        f"Built {metadata['created_at']} with LightGBM {metadata['libraries'].get('lightgbm', '?')}, served with "
        f"ONNX Runtime {metadata['libraries'].get('onnxruntime', '?')}.",
        "",
        "## Intended use and users",
        "",
        "- Estimates the probability that a consumer-credit applicant defaults, from the application form "
        "(Home Credit's `application_train` columns), and proposes a decision at a business-cost threshold.",
        "- Users: credit officers, who take the decision and can read its reasons (`explain=true`, the Decision "
        "page); risk and compliance teams, who watch its drift, performance and fairness.",
        "- Not for: a fully automated refusal without a person able to review it; applicants outside the "
        "population it was trained on; any use of the gender or the age as a decision rule.",
        "",
        *_data(metadata),
        "## Model",
        "",
        f"Gradient-boosted trees (LightGBM, {training['final_rounds']} rounds, {training['num_leaves']} leaves, "
        f"learning rate {training['learning_rate']}), {len(metadata['features'])} encoded columns from the raw "
        "fields (one-hot categories, ratios, age, statistics of the external scores); the encoding is saved in the "
        "bundle and shared by training and serving.",
        "",
        *_metrics(metadata),
        *_threshold(metadata),
        *_fairness(metadata),
        *_importance(metadata),
        "## Explanations",
        "",
        "Each decision can be explained exactly: LightGBM's TreeSHAP contributions, scaled by the calibration, add "
        "up from the base value (the average applicant's log-odds) to the application's log-odds, whose sigmoid is "
        "the served probability. Encoded columns are summed back into the fields of the application form.",
        "",
        "## Known limits",
        "",
    ]
    if synthetic:
        lines.append("- Trained on synthetic data calibrated on a public profile of the Home Credit table: the "
                     "metrics describe that generator, not a real portfolio. Retrain on real applications before use.")
    lines += [
        "- Only the application form is used (no credit-bureau history, no previous applications).",
        "- The threshold encodes one cost ratio; another lender's costs call for another threshold.",
        "- Fairness is measured on the decisions of the holdout, at build time; the monitoring measures it again "
        "on production outcomes. Age is used by the model (it drives the risk) and is reported here for that reason.",
        "- Explanations are contributions to the model's output, not causes: they say what moved this score, "
        "not what would change the client's true risk.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(path: Path, metadata: dict[str, Any]) -> None:
    """Write the model card of ``metadata`` to ``path``."""
    path.write_text(render(metadata))
