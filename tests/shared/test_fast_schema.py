"""The fast first pass over a body accepts only what pydantic accepts, with exactly pydantic's values."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from shared.columns import CLIENT_ID, feature_columns
from shared.fast_schema import decode_valid
from shared.schema import LoanApplication, example_application
from tests.utils.data import synthetic_applications

COLUMNS = feature_columns()
NUMERIC = [c for c in COLUMNS if c.kind != "categorical"]
CATEGORICAL = [c for c in COLUMNS if c.kind == "categorical"]
_MARK = "@@RAW@@"


def _exact(row: dict[str, Any]) -> list[tuple[str, type, str]]:
    """Each value with its type and repr: -0.0 and 0.0, 1 and 1.0 differ here."""
    return [(key, type(value), repr(value)) for key, value in row.items()]


def _pydantic(body: bytes) -> tuple[dict[str, Any], Any] | None:
    try:
        values = LoanApplication.model_validate_json(body).__dict__.copy()
    except ValidationError:
        return None
    return values, values.pop(CLIENT_ID)


def _check(body: bytes) -> bool:
    """True when the fast pass accepts ``body``, after checking pydantic gives the very same values."""
    fast = decode_valid(body)
    if fast is None:
        return False
    slow = _pydantic(body)
    assert slow is not None, body
    assert _exact(fast[0]) == _exact(slow[0]) and list(fast[0]) == list(slow[0])
    assert type(fast[1]) is type(slow[1]) and fast[1] == slow[1]
    return True


def _with_raw(application: dict[str, Any], name: str, raw: str) -> bytes:
    """The application's JSON with ``name``'s value written as the raw JSON text ``raw``."""
    return orjson.dumps({**application, name: _MARK}).replace(f'"{_MARK}"'.encode(), raw.encode())


def test_real_and_generated_applications_are_accepted_with_pydantics_values() -> None:
    applications = [example_application(), *synthetic_applications(300, seed=11)]
    for application in applications:
        assert _check(orjson.dumps(application))


def _raw_values(rng: random.Random, column: Any) -> list[str]:
    low, high = column.minimum, column.maximum
    values = ["null", "true", "false", '"1"', "0", "-0", "-0.0", "1", "1.0", "2.5", "1e2", "1E-2", "0.1",
              "1.0000000000000002", "2.0000000000000004", "0.9999999999999999", "123456789012345678901234567890",
              "1e308", "-1e308", "1e400", "NaN", "Infinity", "[]", "{}", '"NaN"', "01", "1.", ".5"]
    if low is not None:
        values += [repr(low), repr(float(low)), str(int(low)) if float(low).is_integer() else repr(low),
                   repr(low - 1e-9), repr(low + 0.5)]
    if high is not None:
        values += [repr(high), repr(float(high)), repr(high + 1e-9), repr(high - 0.5)]
    for _ in range(6):  # long decimal texts: both parsers must round them to the same float
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 22)))
        point = rng.randint(0, len(digits))
        sign = rng.choice(["", "-"])
        values.append(f"{sign}{digits[:point] or '0'}.{digits[point:] or '0'}")
        if low is not None and high is not None:
            values.append(repr(rng.uniform(low, high)))
            values.append(str(rng.randint(int(max(low, -1e15)), int(min(high, 1e15)))))
    return values


def test_fuzzed_bodies_are_accepted_only_with_pydantics_values() -> None:
    rng = random.Random(20261207)
    base = example_application()
    accepted = refused = 0
    for column in NUMERIC:
        for raw in _raw_values(rng, column):
            if _check(_with_raw(base, column.name, raw)):
                accepted += 1
            else:
                refused += 1
    for column in CATEGORICAL:
        first = column.categories[0]
        for raw in ["null", f'"{first}"', f'"{first.lower()}"', f'"{first} "', f'" {first}"', '""', "1", "true",
                    f'"{first.upper()}"', '"other"', f'["{first}"]']:
            if _check(_with_raw(base, column.name, raw)):
                accepted += 1
            else:
                refused += 1
    for raw in ["100002", "0", "-1", "1000000000000", "1000000000001", "100002.0", '"100002"', "true", "null",
                "1e5", "-0"]:
        if _check(_with_raw(base, CLIENT_ID, raw)):
            accepted += 1
        else:
            refused += 1
    assert accepted > 100 and refused > 100  # both sides of the line were tried


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"null", b'{"a": 1}', b"{}",
])
def test_malformed_or_foreign_bodies_take_pydantics_path(body: bytes) -> None:
    assert decode_valid(body) is None


def test_structure_changes_are_judged_like_pydantic() -> None:
    base = example_application()
    text = orjson.dumps(base)
    optional = next(c.name for c in COLUMNS if not c.required)
    required = next(c.name for c in COLUMNS if c.required)
    bodies = [
        orjson.dumps({**base, "EXTRA_FIELD": 1}),
        orjson.dumps({k: v for k, v in base.items() if k != optional}),
        orjson.dumps({k: v for k, v in base.items() if k != required}),
        orjson.dumps({k: v for k, v in base.items() if k != CLIENT_ID}),
        text[:-1] + b', "SK_ID_CURR": 7}',  # a duplicate key: the last one counts, in both
        text[:-1] + f', "{required}": null}}'.encode(),
        b"  " + text + b"\n",
        text + b"x",
        orjson.dumps(dict(reversed(list(base.items())))),
        text.replace(b'"SK_ID_CURR"', b'"SK\\u005fID_CURR"'),
    ]
    results = [_check(body) for body in bodies]
    assert results[0] is False and results[2] is False and results[3] is False and results[7] is False
    assert results[1] and results[4] and results[6] and results[8] and results[9]


def test_the_days_employed_rule_is_checked() -> None:
    base = example_application()
    assert not _check(orjson.dumps({**base, "DAYS_EMPLOYED": 5}))
    assert _check(orjson.dumps({**base, "DAYS_EMPLOYED": 365243}))
    assert _check(orjson.dumps({**base, "DAYS_EMPLOYED": -100}))
