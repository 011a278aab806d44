"""Command line: ``python -m monitoring {drift,performance,anomalies,schedule,dashboard,forget,export}``.

Exit status: 0 done, 1 the run failed (store down, no bundle), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from monitoring.exceptions import MonitoringError, WindowError
from monitoring.settings import MonitoringSettings
from shared.exceptions import SharedError
from shared.logs import configure_logging

# the Elasticsearch client logs one INFO line per request
QUIET_LOGGERS = ("elastic_transport",)


def _iso_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r} (example: 2025-01-31T08:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    parser = argparse.ArgumentParser(prog="python -m monitoring", description="Drift, anomalies and dashboard.")
    commands = parser.add_subparsers(dest="command", required=True)
    drift = commands.add_parser("drift", help="one drift run now over a window of production events")
    window = drift.add_mutually_exclusive_group()
    window.add_argument("--last", type=_positive_int, metavar="N", help="the newest N scored applications")
    window.add_argument("--since", type=_iso_time, metavar="ISO", help="applications since this UTC time")
    window.add_argument("--hours", type=_positive_float, metavar="H", help="applications of the last H hours "
                        "(default: DRIFT_WINDOW_HOURS)")
    drift.add_argument("--until", type=_iso_time, metavar="ISO", help="end of the window (default: now), to "
                       "re-run drift over a past period")
    drift.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    drift.add_argument("--no-html", action="store_true", help="skip the HTML report")
    performance = commands.add_parser("performance", help="realised and estimated performance and fairness now")
    span = performance.add_mutually_exclusive_group()
    span.add_argument("--last", type=_positive_int, metavar="N", help="the newest N scored applications")
    span.add_argument("--since", type=_iso_time, metavar="ISO", help="applications scored since this UTC time "
                      "(default: the last PERFORMANCE_WINDOW_DAYS days)")
    performance.add_argument("--until", type=_iso_time, metavar="ISO", help="end of the window (default: now)")
    performance.add_argument("--json", action="store_true", help="print the report as one JSON object")
    performance.add_argument("--no-save", action="store_true", help="do not store the report nor raise alerts")
    anomalies = commands.add_parser("anomalies", help="one anomaly check now")
    anomalies.add_argument("--json", action="store_true", help="print the alerts raised as one JSON object")
    commands.add_parser("schedule", help="run drift, anomaly and retention jobs on their intervals until stopped")
    commands.add_parser("dashboard", help="serve the Dash dashboard on DASH_HOST:DASH_PORT")
    client_help = "the client's SK_ID_CURR in clear ('-': read it from stdin); never stored, logged or printed"
    forget = commands.add_parser("forget", help="erase everything stored about one client (GDPR art. 17)")
    forget.add_argument("--client-id", required=True, metavar="ID", help=client_help)
    forget.add_argument("--yes", action="store_true", help="delete; without it, print what would be deleted")
    forget.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    export = commands.add_parser("export", help="print everything stored about one client as JSON (GDPR art. 15)")
    export.add_argument("--client-id", required=True, metavar="ID", help=client_help)
    return parser


def _store(settings: MonitoringSettings) -> Any:
    from shared.store.factory import make_store

    store = make_store(settings)
    store.setup()
    return store


def _print_drift(summary: dict[str, Any]) -> None:
    window = summary["window"]
    print(f"drift run {summary['report_id']} ({summary['status']}): {summary['message']}")
    print(f"  window: {window.get('first_event') or window.get('since')} -> "
          f"{window.get('last_event') or window.get('until')}, {summary['n_current']:,} scored applications "
          f"(reference: {summary['n_reference']:,})")
    if summary["status"] != "ok":
        return
    score = summary["score"]
    if score and score["value"] is not None:
        flag = "  DRIFT" if score["drifted"] else ""
        print(f"  score: PSI {score['value']:.4f} (threshold {score['threshold']}){flag}")
    print(f"  share of drifted features: {summary['share_drifted']:.3f}")
    flagged = [f for f in summary["features"] if f["drifted"]]
    for check in flagged:
        print(f"  DRIFT {check['name']:<32} {check['test']:<20} {check['value']:.4f} >= {check['threshold']}")
    if summary["report_html"]:
        print(f"  HTML report: {summary['report_html']}")


def _cmd_drift(args: argparse.Namespace, settings: MonitoringSettings) -> int:
    from monitoring.drift.run import DriftJob, WindowSpec

    spec = WindowSpec(last=args.last, since=args.since, hours=args.hours, until=args.until)
    spec.resolve(settings)  # bad bounds fail before any work
    result = DriftJob(settings, _store(settings)).run(spec, html=not args.no_html)
    summary = result.summary()
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        _print_drift(summary)
    return 0


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_performance(report: dict[str, Any]) -> None:
    window = report["window"]
    print(f"performance run {report['report_id']}: {report['n_scored']:,} scored applications "
          f"({window.get('first_event')} -> {window.get('last_event')}), {report['n_outcomes']:,} with an outcome, "
          f"{report['n_unmatched']:,} outcomes unmatched")
    reference = report["reference"]
    print(f"  reference (holdout):  cost/application {_fmt(reference['cost_per_application'])}, "
          f"AUC {_fmt(reference['auc'])}")
    for version, block in report["per_model_version"].items():
        realised, estimated = block["realised"] or {}, block["estimated"] or {}
        print(f"  model {version}: {block['n_scored']:,} scored, {block['n_outcomes']:,} outcomes")
        print(f"    realised:  cost/application {_fmt(realised.get('cost_per_application'))}, "
              f"AUC {_fmt(realised.get('auc'))}, brier {_fmt(realised.get('brier'))}, "
              f"approval {_fmt(realised.get('approval_rate'), 3)}, "
              f"default rate approved {_fmt(realised.get('default_rate_approved'), 3)}")
        print(f"    estimated: cost/application {_fmt(estimated.get('cost_per_application'))}, "
              f"AUC {_fmt(estimated.get('auc'))}")
        ratios = block["fairness"]["disparate_impact"]
        print(f"    disparate impact: CODE_GENDER {_fmt(ratios['CODE_GENDER'], 3)}, "
              f"age band {_fmt(ratios['age_band'], 3)}")


def _cmd_performance(args: argparse.Namespace, settings: MonitoringSettings) -> int:
    from monitoring.performance.run import PerformanceJob, PerformanceWindow

    spec = PerformanceWindow(last=args.last, since=args.since, until=args.until)
    spec.resolve(settings)  # bad bounds fail before any work
    save = not args.no_save
    report = PerformanceJob(settings, _store(settings)).run(spec, alert=save, save=save)
    if args.json:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    else:
        _print_performance(report)
    return 0


def _cmd_anomalies(args: argparse.Namespace, settings: MonitoringSettings) -> int:
    from monitoring.anomalies import AnomalyDetector
    from monitoring.queue_probe import QueueProbe

    alerts = AnomalyDetector(settings, _store(settings), QueueProbe.from_settings(settings)).run()
    if args.json:
        sys.stdout.write(orjson.dumps({"alerts": alerts}).decode() + "\n")
    else:
        print(f"{len(alerts)} alert(s)")
        for alert in alerts:
            print(f"  [{alert['severity']}] {alert['metric']}: {alert['message']}")
    return 0


def _erasure(settings: MonitoringSettings) -> Any:
    from monitoring.erasure import Erasure

    redis = None
    if settings.redis_url:
        from shared.redis_client import make_redis

        redis = make_redis(settings, socket_timeout=10)
    return Erasure(settings, _store(settings), redis)


def _client_id(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _cmd_forget(args: argparse.Namespace, settings: MonitoringSettings) -> int:
    answer = _erasure(settings).forget(_client_id(args.client_id), yes=args.yes)
    if args.json:
        sys.stdout.write(orjson.dumps(answer).decode() + "\n")
        return 0
    if args.yes:
        print(f"deleted: {_counts(answer['deleted'])} (total {answer['total']})")
        print(f"audit record: {answer['audit_id']}")
    else:
        print(f"would delete: {_counts(answer['would_delete'])} (total {answer['total']})")
        print("nothing deleted: run again with --yes to delete")
    left = answer["left"]
    if left.get("stream"):
        print(f"left: {left['stream']} event(s) waiting in the events stream; they are stored within seconds: "
              "run forget again then")
    if left.get("jobs_running"):
        print(f"left: {left['jobs_running']} job(s) queued or running; run forget again once they are done")
    return 0


def _cmd_export(args: argparse.Namespace, settings: MonitoringSettings) -> int:
    answer = _erasure(settings).export(_client_id(args.client_id))
    sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    return 0


def _cmd_schedule(settings: MonitoringSettings) -> int:
    from monitoring.scheduler import run_forever
    from shared.resources import start_reporter

    start_reporter("scheduler")
    run_forever(settings)
    return 0


def _cmd_dashboard(settings: MonitoringSettings) -> int:
    from monitoring.dashboard.app import serve
    from shared.resources import start_reporter

    start_reporter("dashboard")
    serve(settings)
    return 0


def _failures() -> tuple[type[BaseException], ...]:
    """The errors that end a command with status 1; Redis's only once a command imported its client (importing
    it costs a drift run a fifth of a second for nothing)."""
    redis_exceptions = sys.modules.get("redis.exceptions")
    return (MonitoringError, SharedError, OSError, *((redis_exceptions.RedisError,) if redis_exceptions else ()))


def main(argv: list[str] | None = None) -> int:
    """Parse, run, and map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = MonitoringSettings()
    except ValueError as exc:
        print(f"error: bad settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.pseudonymisation_key, quiet=QUIET_LOGGERS)
    try:
        if args.command == "drift":
            return _cmd_drift(args, settings)
        if args.command == "performance":
            return _cmd_performance(args, settings)
        if args.command == "anomalies":
            return _cmd_anomalies(args, settings)
        if args.command == "schedule":
            return _cmd_schedule(settings)
        if args.command == "forget":
            return _cmd_forget(args, settings)
        if args.command == "export":
            return _cmd_export(args, settings)
        return _cmd_dashboard(settings)
    except WindowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an empty client id (the message never repeats the id)
        if args.command not in ("forget", "export"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _failures() as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
