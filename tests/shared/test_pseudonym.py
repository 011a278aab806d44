"""Client ids in free text: replaced by their keyed pseudonym, whatever shape the text has."""

from __future__ import annotations

import orjson
import pytest

from shared.pseudonym import REDACTED, ClientMatcher, Pseudonymiser, normalise_id, pseudonymise

KEY = "test-key"
CLIENT = 427_113
REF = pseudonymise(CLIENT, KEY)


def test_pseudonymise_is_keyed_and_stable() -> None:
    assert REF == pseudonymise(str(CLIENT), KEY) != pseudonymise(CLIENT, "other-key")
    assert REF is not None and len(REF) == 32 and str(CLIENT) not in REF
    assert pseudonymise(None, KEY) is None


@pytest.mark.parametrize("value", [CLIENT, str(CLIENT), f" {CLIENT} ", float(CLIENT), f"{CLIENT}.0", f"+{CLIENT}"])
def test_every_form_of_one_id_gets_the_same_pseudonym(value: object) -> None:
    assert normalise_id(value) == str(CLIENT)
    assert Pseudonymiser(KEY).ref(value) == REF


@pytest.mark.parametrize("text", [
    f'{{"SK_ID_CURR": {CLIENT}, "AMT_CREDIT": 1}}',                # valid JSON, a number
    f'{{"SK_ID_CURR":"{CLIENT}"}}',                                # a string, no space
    f'{{ "SK_ID_CURR"  :\t {CLIENT}.0 ,, "x"',                     # malformed, spaces, a float
    f'{{"SK_ID_CURR": "{CLIENT}',                                  # cut in the middle of the string
    f"{{'SK_ID_CURR': {CLIENT}}}",                                 # a Python repr
    f"SK_ID_CURR={CLIENT} and more",                               # a key=value log message
    f'{{"SK_ID_CURR": [{CLIENT}]}}',                               # a list
    f'{{"SK_ID_CURR\': {CLIENT}}}',                                # mismatched quotes
    f'{{"SK_ID_CURR":\n  {CLIENT}}}',                              # a newline
    orjson.dumps({"msg": f'{{"SK_ID_CURR": {CLIENT}}}'}).decode(),  # a body quoted inside a JSON string
    orjson.dumps({"m": orjson.dumps({"a": f'{{"SK_ID_CURR": {CLIENT}}}'}).decode()}).decode(),  # twice
])
def test_the_id_after_the_key_is_replaced_in_any_text(text: str) -> None:
    out, refs = Pseudonymiser(KEY).text_and_refs(text)
    assert str(CLIENT) not in out
    assert refs == [REF] and REF in out


def test_valid_json_stays_valid_and_a_quoted_body_stays_quoted() -> None:
    body = orjson.dumps({"SK_ID_CURR": CLIENT, "AMT_CREDIT": 5.0}).decode()
    assert orjson.loads(Pseudonymiser(KEY).text(body)) == {"SK_ID_CURR": REF, "AMT_CREDIT": 5.0}
    line = orjson.dumps({"msg": f"refused {body}", "SK_ID_CURR": CLIENT}).decode()
    parsed = orjson.loads(Pseudonymiser(KEY).text(line))
    assert parsed["SK_ID_CURR"] == REF and orjson.loads(parsed["msg"].removeprefix("refused "))["SK_ID_CURR"] == REF


def test_a_pseudonym_is_never_hashed_twice_and_null_is_left_alone() -> None:
    once = Pseudonymiser(KEY).text(f'{{"SK_ID_CURR": {CLIENT}}}')
    assert Pseudonymiser(KEY).text(once) == once
    assert Pseudonymiser(KEY).text('{"SK_ID_CURR": null}') == '{"SK_ID_CURR": null}'
    assert Pseudonymiser(KEY).text("no client here") == "no client here"


def test_without_a_key_ids_are_redacted() -> None:
    out = Pseudonymiser(None).text(f'{{"SK_ID_CURR": {CLIENT}}}')
    assert str(CLIENT) not in out and REDACTED in out


def test_value_hashes_the_key_of_a_document_and_scrubs_its_strings() -> None:
    doc = {"SK_ID_CURR": CLIENT, "notes": [f"SK_ID_CURR={CLIENT}"], "n": 3}
    assert Pseudonymiser(KEY).value(doc) == {"SK_ID_CURR": REF, "notes": [f"SK_ID_CURR={REF}"], "n": 3}


def test_the_matcher_finds_the_pseudonym_or_a_clear_id_and_never_shows_the_id() -> None:
    matcher = ClientMatcher.for_client(f" {CLIENT} ", KEY)
    assert matcher.ref == REF and str(CLIENT) not in repr(matcher)
    assert matcher.matches({"client_ref": REF})
    assert matcher.matches({"raw_input": f'{{"SK_ID_CURR": {CLIENT},'}, text_fields=["raw_input"])
    assert matcher.matches({"raw_input": f"[{REF}]"}, text_fields=["raw_input"])
    assert not matcher.matches({"client_ref": "0" * 32, "raw_input": f'{{"SK_ID_CURR": {CLIENT + 1}}}'},
                               text_fields=["raw_input"])
    assert not matcher.in_text(f"AMT_CREDIT={CLIENT}")  # the number alone is not this client
    with pytest.raises(ValueError, match="empty") as raised:
        ClientMatcher.for_client("  ", KEY)
    assert str(CLIENT) not in str(raised.value)


@pytest.mark.parametrize("key", ["", "k", "x" * 64, "y" * 65, "é" * 100])
def test_the_pseudonymiser_gives_the_keyed_hash_for_any_key_length(key: str) -> None:
    pseudonymiser = Pseudonymiser(key)
    for value in (100002, "100002", 100002.0, "abc"):
        assert pseudonymiser.ref(value) == pseudonymise(normalise_id(value), key)
