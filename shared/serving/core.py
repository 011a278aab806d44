"""The scoring core: validate, score, build the answer and the events, for one application or a batch.

Transport-free (the role MLServer's ``DataPlane`` plays): the gateway's routes
and the worker's job function are thin adapters over :class:`ScoringCore`.
Refused inputs raise :class:`shared.exceptions.InputRefusedError` and a
scorer failure :class:`shared.exceptions.ScoringFailedError`, their events
already emitted; each adapter maps them to its transport (an HTTP status, a
failed job).

The hot path: a valid body decoded by :mod:`shared.fast_schema` (msgspec, the same
values as pydantic's), any other by ``model_validate_json`` on the raw bytes (one
pass in pydantic's core), the validated values taken from the model's ``__dict__``
(a flat model: same content as ``model_dump()``, ten times cheaper), one ONNX call, the event
handed to the publisher's in-memory queue, and a plain dict as the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from shared.columns import CLIENT_ID
from shared.event import Path, Timings
from shared.exceptions import BundleError, ExplanationUnavailableError, InputRefusedError, ScoringFailedError
from shared.explain import explainer_of
from shared.fast_schema import decode_valid
from shared.schema import LoanApplication, field_errors
from shared.scorer import Scorer, ScoreResult
from shared.serving import answers
from shared.serving.events import EventBuilder, errors_summary

BATCH_KEY = "applications"
Row = tuple[dict[str, Any], Any]  # (the 120 features, SK_ID_CURR)
ScoresHook = Callable[[Path, list[float], list[str]], None]


def ms_since(start: float, end: float | None = None) -> float:
    """Milliseconds from ``start`` to ``end`` (now when omitted), rounded to the microsecond."""
    return round(((end if end is not None else time.perf_counter()) - start) * 1000.0, 3)


def _version_of(results: list[ScoreResult], scorer: Scorer) -> tuple[str, float]:
    """The model version and threshold that scored ``results`` (a swap may have happened since)."""
    if results:
        return results[0].model_version, results[0].threshold
    return scorer.model_version, scorer.threshold


def split_validated(model: Any) -> Row:
    """The validated values: the 120 features (a fresh dict) and SK_ID_CURR."""
    values = model.__dict__.copy()
    return values, values.pop(CLIENT_ID)


@dataclass(slots=True)
class Parsed:
    """Validated applications of one request: ``(index, features, SK_ID_CURR)`` and the refused items."""

    valid: list[tuple[int, dict[str, Any], Any]]
    rejected: list[dict[str, Any]]
    single: bool
    start: float
    validated: float

    @property
    def rows(self) -> list[Row]:
        """``(features, SK_ID_CURR)`` of each valid application."""
        return [(features, client_id) for _, features, client_id in self.valid]

    @property
    def validation_ms(self) -> float:
        """Time spent parsing and validating."""
        return ms_since(self.start, self.validated)


class ScoringCore:
    """Validates and scores applications, emits their events, builds the answers.

    Args:
        scorer: the loaded scorer.
        events: the event builder (and its publisher).
        max_batch_size: most applications in one batch.
        on_scores: called with ``(path, probabilities, decisions)`` after each scoring (metrics).

    The explanations come from the scorer's own explainer (:func:`shared.explain.explainer_of`),
    whose loading starts here, in the background: a swapped-in scorer brings its own.
    """

    def __init__(self, scorer: Scorer, events: EventBuilder, max_batch_size: int = 1000,
                 on_scores: ScoresHook | None = None) -> None:
        self.scorer = scorer
        self.events = events
        self.max_batch_size = max_batch_size
        self.on_scores = on_scores

    @property
    def scorer(self) -> Scorer:
        """The scorer of the next requests (a request keeps the one it took)."""
        return self._scorer

    @scorer.setter
    def scorer(self, scorer: Scorer) -> None:
        self._scorer = scorer
        explainer_of(scorer)  # a new champion's explainer starts loading now, in the background

    # --- one application, sync ------------------------------------------------------------
    def score_one(self, body: bytes, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Validate and score one application from the raw body; the answer of ``POST /v1/score``.

        With ``explain``, the answer and the event carry the decision's reasons.
        """
        start = time.perf_counter()
        features, client_id = self.parse_one(body, "sync", request_id, start)
        validated = time.perf_counter()
        result = self.infer([(features, client_id)], "sync", request_id, start, validated)[0]
        explanation = self.explain_rows([(features, client_id)], "sync", request_id, start,
                                        model_version=result.model_version)[0] if explain else None
        timings = Timings(validation_ms=ms_since(start, validated), inference_ms=round(result.inference_ms, 3),
                          total_ms=ms_since(start))
        event_id = self.events.scored("sync", features, client_id, result, timings, request_id,
                                      explanation=explanation)
        self._observe("sync", [result])
        return answers.score_answer(request_id, event_id, result, timings, explanation)

    def parse_one(self, body: bytes, path: Path, request_id: str | None, start: float) -> Row:
        """Parse and validate one application from the raw body (an "invalid" event when refused).

        A body :func:`shared.fast_schema.decode_valid` finds certainly valid takes its values (the same
        as pydantic's); any other is validated, and refused, by pydantic.
        """
        row = decode_valid(body)
        if row is not None:
            return row
        try:
            model = LoanApplication.model_validate_json(body)
        except ValidationError as exc:
            errors = field_errors(exc)
            if errors and errors[0]["rule"] == "json_invalid":
                raise self.refuse(path, body, "malformed_json", f"the body is not valid JSON "
                                  f"({errors[0]['message']})", request_id, start, reason="malformed") from None
            raise self.refuse(path, body, "validation", f"{len(errors)} invalid field(s)", request_id, start,
                              summary=errors_summary(errors), errors=errors) from None
        return split_validated(model)

    # --- a batch, or a job's body ----------------------------------------------------------
    def parse(self, body: bytes, path: Path, request_id: str | None, allow_single: bool = False) -> Parsed:
        """Parse a batch ``{"applications": [...]}`` (or, with ``allow_single``, one application).

        Invalid items of a batch are reported by index, each with its "invalid" event.

        Raises:
            InputRefusedError: not JSON, a wrong envelope, too many items, or no valid item.
        """
        start = time.perf_counter()
        data = self.load_json(body, path, request_id, start)
        if allow_single and not (isinstance(data, dict) and BATCH_KEY in data):
            try:
                row = split_validated(LoanApplication.model_validate(data))
            except ValidationError as exc:
                errors = field_errors(exc)
                raise self.refuse(path, body, "validation", f"{len(errors)} invalid field(s)", request_id, start,
                                  summary=errors_summary(errors), errors=errors) from None
            return Parsed([(0, *row)], [], True, start, time.perf_counter())
        valid: list[tuple[int, dict[str, Any], Any]] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(self._envelope(data, body, path, request_id, start)):
            item_start = time.perf_counter()
            try:
                model = LoanApplication.model_validate(item)
            except ValidationError as exc:
                errors = field_errors(exc)
                rejected.append({"index": index, "errors": errors})
                self.events.invalid(path, item if isinstance(item, dict) else repr(item), "validation",
                                    f"item {index}: {errors_summary(errors)}", request_id, self.scorer.model_version,
                                    ms_since(item_start))
                continue
            valid.append((index, *split_validated(model)))
        if not valid:
            raise InputRefusedError("invalid", f"none of the {len(rejected)} applications is valid", items=rejected)
        return Parsed(valid, rejected, False, start, time.perf_counter())

    def score_batch(self, parsed: Parsed, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Score the valid items of a parsed batch as one matrix; the answer of ``POST /v1/score/batch``."""
        results = self.infer(parsed.rows, "sync", request_id, parsed.start, parsed.validated)
        explanations = (self.explain_rows(parsed.rows, "sync", request_id, parsed.start,
                                          model_version=results[0].model_version) if explain and results else None)
        inference_ms = round(results[0].inference_ms, 3) if results else 0.0
        timings = Timings(validation_ms=parsed.validation_ms, inference_ms=inference_ms,
                          total_ms=ms_since(parsed.start))
        items = self.emit_scored("sync", parsed.valid, results, timings, request_id, explanations=explanations)
        self._observe("sync", results)
        version, threshold = _version_of(results, self.scorer)
        return answers.batch_answer(request_id, version, threshold, items, parsed.rejected, timings)

    # --- a job ----------------------------------------------------------------------------
    def validate_job(self, applications: Sequence[Any], indices: Sequence[int]) -> list[tuple[int, dict[str, Any],
                                                                                              Any]]:
        """Re-validate a job's applications (no event: the job fails at once).

        Raises:
            InputRefusedError: the first invalid application, by its index in the client's request.
        """
        valid = []
        for index, application in zip(indices, applications, strict=True):
            try:
                valid.append((index, *split_validated(LoanApplication.model_validate(application))))
            except ValidationError as exc:
                fields = ", ".join(f"{e['field']} ({e['rule']})" for e in field_errors(exc))
                raise InputRefusedError("invalid", f"application {index} is invalid: {fields}") from None
        return valid

    def job_answer(self, valid: list[tuple[int, dict[str, Any], Any]], results: list[ScoreResult], single: bool,
                   timings: Timings, request_id: str | None, job_id: str | None,
                   explanations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Emit a job's events and build its result (one score, or a batch's results), with their reasons if given."""
        items = self.emit_scored("async", valid, results, timings, request_id, job_id, explanations)
        if single:
            return answers.job_score(items[0]["event_id"], results[0], timings,
                                     explanations[0] if explanations else None)
        version, threshold = _version_of(results, self.scorer)
        return answers.job_batch(version, threshold, items, timings)

    def group_answers(self, scored: list[tuple[str, dict[str, Any], Any]], results: list[ScoreResult],
                      timings: list[Timings], request_ids: list[str | None],
                      explanations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Emit the events of a coalesced group and build each application's result (``JobScore``).

        Args:
            scored: ``(application id, features, SK_ID_CURR)`` of each scored application.
            results: their scores, in the same order.
            timings: each application's timings (its own queue wait and total).
            request_ids: the request that submitted each application.
            explanations: each decision's reasons, when asked for.

        Each application is a job of its own: its event id derives from its own id, as a
        single-application job's does, so a group run twice stores each event once.
        """
        out = []
        for i, ((application_id, features, client_id), result) in enumerate(zip(scored, results, strict=True)):
            explanation = explanations[i] if explanations is not None else None
            event_id = self.events.scored("async", features, client_id, result, timings[i], request_ids[i],
                                          application_id, explanation, 0)
            out.append(answers.job_score(event_id, result, timings[i], explanation))
        return out

    # --- shared steps ---------------------------------------------------------------------
    def infer(self, rows: list[Row], path: Path, request_id: str | None, start: float,
              validated: float) -> list[ScoreResult]:
        """Score validated rows as one matrix; on failure, one "error" event each and ScoringFailedError."""
        if not rows:
            return []
        try:
            return self.scorer.score_batch([features for features, _ in rows])
        except Exception as exc:
            timings = Timings(validation_ms=ms_since(start, validated), total_ms=ms_since(start))
            for features, client_id in rows:
                self.events.failed(path, features, client_id, "scoring_failed", f"{type(exc).__name__}: {exc}",
                                   request_id, self.scorer.model_version, timings)
            raise ScoringFailedError("internal error while scoring: quote the request_id") from exc

    def explain(self, applications: list[dict[str, Any]], model_version: str | None = None) -> list[dict[str, Any]]:
        """The reasons of each application's score (``shared.explain``), by the model that scored them.

        Args:
            applications: the scored applications.
            model_version: the version that scored them (checked: a swap may have happened since).

        Raises:
            ExplanationUnavailableError: the bundle's explainer could not be loaded, or the model
                was swapped between the score and its explanation (rare: retry).
        """
        scorer = self.scorer
        if model_version is not None and scorer.model_version != model_version:
            raise ExplanationUnavailableError(f"the model changed from {model_version} to {scorer.model_version} "
                                              "while this request was scored: retry")
        try:
            explainer = explainer_of(scorer).get()
        except BundleError as exc:
            raise ExplanationUnavailableError(f"explanations are unavailable: {exc}") from exc
        return explainer.explain(applications)

    def explain_rows(self, rows: list[Row], path: Path, request_id: str | None, start: float | None = None,
                     job_id: str | None = None, model_version: str | None = None) -> list[dict[str, Any]]:
        """:meth:`explain` of scored rows; when it cannot, one "error" event each, and the error raised again."""
        try:
            return self.explain([features for features, _ in rows], model_version)
        except ExplanationUnavailableError as exc:
            timings = Timings(total_ms=ms_since(start) if start is not None else None)
            for features, client_id in rows:
                self.events.failed(path, features, client_id, "explanation_unavailable", str(exc), request_id,
                                   self.scorer.model_version, timings, job_id)
            raise

    def emit_scored(self, path: Path, valid: list[tuple[int, dict[str, Any], Any]], results: list[ScoreResult],
                    timings: Timings, request_id: str | None, job_id: str | None = None,
                    explanations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """One "ok" event per result; the ``results`` entries of the answer, each with its event id (and reasons)."""
        reasons: list[dict[str, Any] | None] = list(explanations) if explanations is not None else [None] * len(valid)
        return [answers.result_item(index, self.events.scored(path, features, client_id, result, timings,
                                                              request_id, job_id, explanation, index), result,
                                        explanation)
                for (index, features, client_id), result, explanation in zip(valid, results, reasons, strict=True)]

    def load_json(self, body: bytes, path: Path, request_id: str | None, start: float | None = None) -> Any:
        """``orjson.loads``, refusing malformed JSON (with its event)."""
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise self.refuse(path, body, "malformed_json", f"the body is not valid JSON ({exc})", request_id,
                              start, reason="malformed") from None

    def refuse(self, path: Path, raw: Any, error_type: str, message: str, request_id: str | None,
               start: float | None = None, summary: str | None = None, reason: str = "invalid",
               **details: Any) -> InputRefusedError:
        """Emit the "invalid" event of a refused input; the error to raise."""
        self.events.invalid(path, raw, error_type, summary or message, request_id, self.scorer.model_version,
                            ms_since(start) if start is not None else None)
        return InputRefusedError(reason, message, **details)

    def _envelope(self, data: Any, body: bytes, path: Path, request_id: str | None, start: float) -> list[Any]:
        def wrong(rule: str, message: str, field: str = BATCH_KEY) -> InputRefusedError:
            return self.refuse(path, body, "validation", message, request_id, start, summary=f"{field}: {rule}",
                               errors=[{"field": field, "value": None, "rule": rule, "message": message}])

        if not isinstance(data, dict) or BATCH_KEY not in data:
            raise wrong("missing", 'a batch is a JSON object {"applications": [...]}')
        extra = [k for k in data if k != BATCH_KEY]
        if extra:
            raise wrong("extra_forbidden", f"unexpected key(s) next to applications: {', '.join(extra)}", extra[0])
        items = data[BATCH_KEY]
        if not isinstance(items, list):
            raise wrong("list_type", "applications must be a list of applications")
        if not items:
            raise wrong("too_short", "applications must hold at least one application")
        if len(items) > self.max_batch_size:
            raise self.refuse(path, None, "batch_too_large", f"a batch of {len(items)} applications exceeds the "
                              f"limit of {self.max_batch_size}", request_id, start, reason="too_large",
                              limit=self.max_batch_size)
        return items

    def _observe(self, path: Path, results: list[ScoreResult]) -> None:
        if self.on_scores is not None:
            self.on_scores(path, [r.probability for r in results], [r.decision for r in results])
