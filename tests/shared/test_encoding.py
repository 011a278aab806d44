"""The encoding: deterministic, identical on the training and the serving paths, state round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.columns import CLIENT_ID, DAYS_EMPLOYED_UNEMPLOYED, TARGET, feature_names
from shared.encoding import DOMAIN_FEATURES, EncodingState, encode, fit_encoding
from shared.exceptions import EncodingError
from shared.schema import LoanApplication, example_application
from training.data import to_records
from training.synthetic import generate


@pytest.fixture(scope="module")
def frame():
    return generate(1_500, seed=31)


@pytest.fixture(scope="module")
def state(frame) -> EncodingState:
    return fit_encoding(to_records(frame[list(feature_names())]))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def test_same_input_same_output(frame, state: EncodingState) -> None:
    records = to_records(frame[list(feature_names())])
    first = encode(records, state)
    assert first.dtype == np.float32 and first.flags["C_CONTIGUOUS"]
    assert first.shape == (len(frame), state.n_features)
    assert _same(first, encode(records, state))
    assert _same(first[:7], encode(records[:7], state))  # a row's vector does not depend on its batch
    assert _same(first[5:6], encode([records[5]], state))


def test_training_path_equals_serving_path(frame, state: EncodingState) -> None:
    """DataFrame -> records (training) vs JSON-ready application -> schema -> dump (serving)."""
    training = encode(to_records(frame.drop(columns=[TARGET])), state)
    served = []
    for application in to_records(frame.drop(columns=[TARGET]), ints=True):
        validated = LoanApplication.model_validate(application).model_dump()
        served.append(validated)
    assert _same(training, encode(served, state))


def test_extra_keys_do_not_change_the_vector(frame, state: EncodingState) -> None:
    records = to_records(frame.drop(columns=[TARGET]))  # SK_ID_CURR present
    bare = [{k: v for k, v in r.items() if k != CLIENT_ID} for r in records]
    assert _same(encode(records, state), encode(bare, state))


def test_state_round_trip_through_json(state: EncodingState) -> None:
    import json

    loaded = EncodingState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert loaded == state and loaded.feature_names == state.feature_names
    application = example_application()
    assert _same(encode([application], loaded), encode([application], state))


def test_state_of_another_version_or_feature_set_is_refused(state: EncodingState) -> None:
    data = state.to_dict()
    with pytest.raises(EncodingError, match="version"):
        EncodingState.from_dict({**data, "version": 99})
    with pytest.raises(EncodingError, match="domain features"):
        EncodingState.from_dict({**data, "domain_features": ["X"]})
    with pytest.raises(EncodingError, match="feature names"):
        EncodingState.from_dict({**data, "feature_names": data["feature_names"][:-1]})


def test_categories_most_frequent_first_and_unseen_encodes_like_missing(state: EncodingState) -> None:
    assert state.categories["NAME_CONTRACT_TYPE"] == ("Cash loans", "Revolving loans")
    application = example_application()
    names = state.feature_names
    gender = [i for i, n in enumerate(names) if n.startswith("CODE_GENDER=")]
    unseen = encode([{**application, "CODE_GENDER": "XNA"}], state)[0]  # valid, never seen in training
    missing = encode([{**application, "CODE_GENDER": None}], state)[0]
    assert not unseen[gender].any() and _same(unseen, missing)
    male = encode([{**application, "CODE_GENDER": "M"}], state)[0]
    assert male[names.index("CODE_GENDER=M")] == 1.0 and male[gender].sum() == 1.0


def test_domain_features_and_the_365243_placeholder(state: EncodingState) -> None:
    application = {**example_application(), "EXT_SOURCE_1": None, "EXT_SOURCE_2": 0.2, "EXT_SOURCE_3": 0.6}
    row = encode([application], state)[0]
    names = state.feature_names
    value = {n: float(row[names.index(n)]) for n in DOMAIN_FEATURES}
    assert value["DAYS_EMPLOYED_UNEMPLOYED"] == 0.0
    assert value["CREDIT_INCOME_RATIO"] == pytest.approx(406597.5 / 202500.0, rel=1e-6)
    assert value["CREDIT_TERM"] == pytest.approx(406597.5 / 24700.5, rel=1e-6)
    assert value["AGE_YEARS"] == pytest.approx(9461 / 365.25, rel=1e-6)
    assert value["EXT_SOURCE_MEAN"] == pytest.approx(0.4) and value["EXT_SOURCE_MIN"] == pytest.approx(0.2)
    assert value["EXT_SOURCE_PROD"] == pytest.approx(0.12) and value["EXT_SOURCE_STD"] == pytest.approx(0.2)
    pensioner = encode([{**application, "DAYS_EMPLOYED": DAYS_EMPLOYED_UNEMPLOYED}], state)[0]
    assert math.isnan(pensioner[names.index("DAYS_EMPLOYED")])
    assert pensioner[names.index("DAYS_EMPLOYED_UNEMPLOYED")] == 1.0
    assert math.isnan(pensioner[names.index("EMPLOYED_AGE_RATIO")])
    none = encode([{**application, "EXT_SOURCE_2": None, "EXT_SOURCE_3": None}], state)[0]
    assert all(math.isnan(none[names.index(n)]) for n in DOMAIN_FEATURES if n.startswith("EXT_SOURCE_"))


def test_absent_none_and_nan_are_the_same_missing_value(state: EncodingState) -> None:
    application = example_application()
    absent = {k: v for k, v in application.items() if k != "AMT_ANNUITY"}
    vectors = [encode([a], state)[0] for a in (absent, {**application, "AMT_ANNUITY": None},
                                               {**application, "AMT_ANNUITY": float("nan")})]
    assert _same(vectors[0], vectors[1]) and _same(vectors[1], vectors[2])
