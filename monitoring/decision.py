"""One decision looked up, with its reasons in words a credit officer can read to a client.

A decision is found by its ``event_id`` (every answer returns it) or by the
job id of an async request. Its explanation is the one stored with the event
when the request asked for it; otherwise it is computed now from the stored
features, with the bundle of the same model version (never with another model:
the reasons would not be the ones of that decision).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring.exceptions import DecisionNotFoundError
from shared.explain import Explainer, sigmoid
from shared.scorer import METADATA_FILE
from shared.store.base import EventStore

STRONG = 0.5  # |contribution| in log-odds from which a reason "strongly" moves the risk (odds x1.65)
MODERATE = 0.2
# Plain names of the fields that most often come up as reasons.
LABELS = {
    "EXT_SOURCE_1": "external credit score 1", "EXT_SOURCE_2": "external credit score 2",
    "EXT_SOURCE_3": "external credit score 3", "EXT_SOURCE_MEAN": "average of the external credit scores",
    "EXT_SOURCE_MIN": "lowest external credit score", "EXT_SOURCE_MAX": "highest external credit score",
    "EXT_SOURCE_PROD": "product of the external credit scores",
    "EXT_SOURCE_STD": "spread of the external credit scores",
    "AMT_CREDIT": "amount of credit", "AMT_INCOME_TOTAL": "income", "AMT_ANNUITY": "loan annuity",
    "AMT_GOODS_PRICE": "price of the goods financed", "CREDIT_INCOME_RATIO": "credit relative to income",
    "ANNUITY_INCOME_RATIO": "annuity relative to income", "CREDIT_TERM": "length of the loan (credit / annuity)",
    "GOODS_CREDIT_RATIO": "goods price relative to the credit", "AGE_YEARS": "age",
    "DAYS_BIRTH": "age", "DAYS_EMPLOYED": "time in current employment",
    "EMPLOYED_AGE_RATIO": "share of life in current employment", "DAYS_ID_PUBLISH": "age of the identity document",
    "DAYS_REGISTRATION": "time since the registration changed",
    "DAYS_LAST_PHONE_CHANGE": "time since the phone changed",
    "OWN_CAR_AGE": "age of the car", "CODE_GENDER": "gender", "NAME_EDUCATION_TYPE": "education",
    "NAME_INCOME_TYPE": "income type", "NAME_CONTRACT_TYPE": "contract type", "NAME_FAMILY_STATUS": "family status",
    "OCCUPATION_TYPE": "occupation", "ORGANIZATION_TYPE": "employer's sector", "REGION_RATING_CLIENT": "region rating",
    "REGION_RATING_CLIENT_W_CITY": "region rating (with city)", "FLAG_OWN_CAR": "owns a car",
    "FLAG_OWN_REALTY": "owns real estate", "CNT_CHILDREN": "number of children",
}


@dataclass
class Decision:
    """A decision and its explanation, ready to show.

    Attributes:
        event: the stored event document.
        explanation: the reasons (stored, or computed now).
        computed: True when the explanation was computed now from the stored features.
        others: event ids of the job's other applications (a batch job).
        note: why there is no explanation, when there is none.
    """

    event: dict[str, Any]
    explanation: dict[str, Any] | None
    computed: bool = False
    others: list[str] = field(default_factory=list)
    note: str = ""


def label(name: str) -> str:
    """The plain name of a field (its column name when none is known)."""
    return LABELS.get(name, name)


def show_value(name: str, value: Any) -> str:
    """A field's value as a person reads it: ages and durations in years, amounts with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not given"
    if isinstance(value, str):
        return value
    if name == "DAYS_EMPLOYED" and value == 365243:
        return "not employed (pensioner or unemployed)"
    if name.startswith("DAYS_"):
        return f"{abs(value) / 365.25:.1f} years"
    if name == "AGE_YEARS":
        return f"{value:.0f} years"
    if name.startswith("AMT_"):
        return f"{value:,.0f}"
    if name.startswith("FLAG_") and value in (0, 1):
        return "yes" if value == 1 else "no"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def strength(contribution: float) -> str:
    """How much a reason moves the risk, in words."""
    size = abs(contribution)
    return "strongly" if size >= STRONG else "moderately" if size >= MODERATE else "slightly"


def sentences(decision: Decision) -> list[str]:
    """The decision and its main reasons, one sentence each."""
    event, explanation = decision.event, decision.explanation
    score, threshold = event.get("score"), event.get("threshold")
    if score is None or threshold is None:
        return [f"This attempt was not scored (status {event.get('status')})."]
    verdict = "refused" if event.get("decision") == "refused" else "approved"
    lines = [f"The model estimates a {score:.1%} probability of default; applications are refused from "
             f"{threshold:.1%}, so this one was {verdict}."]
    if explanation is None:
        return lines
    lines.append(f"An average applicant starts at {sigmoid(explanation['base_value']):.1%}. "
                 "What moved this application's estimate the most:")
    for reason in explanation["reasons"]:
        verb = "raises" if reason["contribution"] > 0 else "lowers"
        source = ""
        if reason.get("derived_from"):
            source = f" (computed from {', '.join(label(f) for f in reason['derived_from'])})"
        lines.append(f"{label(reason['field']).capitalize()}: {show_value(reason['field'], reason['value'])}"
                     f"{source}, {strength(reason['contribution'])} {verb} the risk.")
    if abs(explanation["rest"]) >= MODERATE:
        verb = "raise" if explanation["rest"] > 0 else "lower"
        lines.append(f"All the other fields together {verb} it {strength(explanation['rest'])}.")
    return lines


class DecisionFinder:
    """Finds decisions in the store and explains them with the bundle of ``model_dir``.

    The bundle's explainer is loaded at the first decision that needs one (and kept).
    """

    def __init__(self, store: EventStore, model_dir: str | Path) -> None:
        self.store = store
        self.model_dir = Path(model_dir)
        self._explainer: Explainer | None = None
        self._version: str | None = None
        self._lock = threading.Lock()

    def _bundle_explainer(self) -> tuple[Explainer, str]:
        with self._lock:
            if self._explainer is None:
                metadata = json.loads((self.model_dir / METADATA_FILE).read_text())
                self._explainer = Explainer.load(self.model_dir, metadata)
                self._version = str(metadata["version"])
            assert self._version is not None
            return self._explainer, self._version

    def find(self, key: str) -> Decision:
        """The decision of an event id, or of a job id (its first application).

        Raises:
            DecisionNotFoundError: no event has that id and no job that job id.
        """
        key = key.strip()
        event = self.store.get_event(key) if key else None
        others: list[str] = []
        if event is None and key:
            of_job = self.store.events_of_job(key)
            if of_job:
                event, others = of_job[0], [e["event_id"] for e in of_job[1:]]
        if event is None:
            raise DecisionNotFoundError(f"no decision with the event id or job id {key!r}")
        decision = Decision(event, event.get("explanation"), others=others)
        if decision.explanation is None and event.get("status") == "ok" and event.get("features"):
            self._compute(decision)
        return decision

    def _compute(self, decision: Decision) -> None:
        try:
            explainer, version = self._bundle_explainer()
        except Exception as exc:  # no bundle, no model.txt: the page says so
            decision.note = f"No explanation: the model bundle cannot be loaded ({exc})."
            return
        if decision.event.get("model_version") != version:
            decision.note = (f"No explanation: this decision was made by model {decision.event.get('model_version')}, "
                             f"the bundle here is {version}.")
            return
        decision.explanation = explainer.explain([decision.event["features"]])[0]
        decision.computed = True
