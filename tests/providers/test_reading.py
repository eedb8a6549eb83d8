"""Rules every adapter shares (issue 15, reply reading and inputs; issue 14, unknown outcomes):
owned fields that ``extra`` cannot replace, stated successes, scalar ids and finite money."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

import smsgate
from smsgate._options import OPTION_CAPABILITIES, SEND_OPTION_TABLE
from smsgate.providers import ErrorSpec, as_money, as_text
from smsgate.providers.smsoffice_ge import SmsOfficeGe
from smsgate.registry import create, provider_class

ADAPTERS = [
    ("gosms.ge", {"api_key": "k-reading-1"}, "+995555123456"),
    ("smsoffice.ge", {"api_key": "k-reading-2"}, "+995577123456"),
    ("gosms.ro", {"api_key": "k-reading-3"}, "+40712345678"),
    ("smsgist", {"client_id": "c-reading", "token": "t-reading"}, "+233245972246"),
]
# Every send option with a non-default value, and the capability each needs: the same
# vocabulary the contract suite and the base use.
EVERY_OPTION: dict[str, Any] = {o.name: o.sample for o in SEND_OPTION_TABLE if o.capability}
CAPABILITY = OPTION_CAPABILITIES


@pytest.mark.parametrize(("name", "credentials", "number"), ADAPTERS,
                         ids=[a[0] for a in ADAPTERS])
def test_every_field_an_adapter_writes_is_owned(name: str, credentials: dict[str, str],
                                                number: str) -> None:
    """The owned-field declaration cannot drift from the adapter: a send with a sender and
    every option the adapter supports writes only owned fields (so ``extra`` can replace
    none of them), and every credential placed in the body or the query is owned too."""
    provider = create(name, **credentials, sender="Brand")
    options = {k: v for k, v in EVERY_OPTION.items() if CAPABILITY[k] in provider.capabilities}
    outgoing = provider.complete_send(provider.prepare([number], "Hi", **options))
    request = provider.build_send(outgoing)
    written = set(request.form or {}) | set(request.json or {}) | set(request.params)
    assert written, name
    assert written <= provider.owned_fields, written - provider.owned_fields
    for spec in provider_class(name).auth:
        if spec.location in ("body", "param", "query"):
            assert spec.name in provider.owned_fields, spec.name


@pytest.mark.parametrize(("name", "credentials", "number"), ADAPTERS,
                         ids=[a[0] for a in ADAPTERS])
def test_extra_naming_an_owned_field_is_refused_before_any_request(
    name: str, credentials: dict[str, str], number: str
) -> None:
    """"extra must not silently override fields smsgate owns": smsgate refuses, before I/O."""
    provider = create(name, **credentials, sender="Brand")
    with responses.RequestsMock() as api:  # any request would fail the test
        for field in provider.owned_fields:
            with pytest.raises(smsgate.ValidationError, match=field):
                provider.send(number, "Hi", extra={field.upper(): "x"})
        with pytest.raises(smsgate.ValidationError, match="strings"):
            provider.send(number, "Hi", extra={1: "x"})  # type: ignore[dict-item]
        assert len(api.calls) == 0


def test_a_gateway_stops_on_a_refused_extra() -> None:
    from smsgate.testing import MemoryProvider

    backup = MemoryProvider()
    gateway = smsgate.Gateway([SmsOfficeGe("k-reading-4", sender="Shop"), backup])
    with pytest.raises(smsgate.ValidationError, match="destination"):
        gateway.send("+995577123456", "Hi", extra={"destination": "995599000000"})
    assert backup.calls == []


def test_an_unknown_outcome_on_a_lookup_sent_nothing() -> None:
    """``ErrorSpec(outcome="unknown")`` means "may have been sent" only for a request that
    sends; a lookup that gets the same code sent nothing."""
    office = SmsOfficeGe("k-reading-5", sender="Shop")
    with responses.RequestsMock() as api:
        api.get("https://smsoffice.ge/api/v2/getMessageStatus/",
                json={"Success": False, "Message": "", "Output": None, "ErrorCode": -100})
        with pytest.raises(smsgate.DeliveryUnknown) as info:
            office.status("r-1", recipient="+995577123456")
    assert info.value.may_have_sent is False
    assert SmsOfficeGe.error_table[-100].outcome == "unknown"
    assert all(spec.outcome == "refused" for code, spec in SmsOfficeGe.error_table.items()
               if code != -100)
    assert ErrorSpec(smsgate.ProviderError, "x").outcome == "refused"


@given(st.one_of(st.dictionaries(st.text(), st.integers()), st.lists(st.integers()),
                 st.booleans(), st.none(), st.floats(allow_nan=True, allow_infinity=True)
                 .filter(lambda f: not (math.isfinite(f) and f.is_integer()))))
def test_ids_must_be_scalars(value: object) -> None:
    assert as_text(value) is None


@given(st.one_of(st.integers(), st.text(min_size=1).filter(str.strip)))
def test_scalar_ids_are_read(value: int | str) -> None:
    assert as_text(value) == str(value).strip()


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from(["NaN", "nan", "Infinity", "-inf", "sNaN", "1e3", "abc"]),
                 st.integers(), st.none(), st.booleans(), st.lists(st.integers())))
def test_money_is_finite_or_none(value: object) -> None:
    amount = as_money(value)
    assert amount is None or (isinstance(amount, Decimal) and amount.is_finite())
    if isinstance(value, float) and not math.isfinite(value):
        assert amount is None
    if isinstance(value, bool) or value is None or isinstance(value, list):
        assert amount is None


def test_money_reads_the_documented_forms() -> None:
    assert as_money("0.03") == Decimal("0.03")  # GoSMS.ro's balanceDeduction
    assert as_money(0.06) == Decimal("0.06")  # SMSGist's total_cost
    assert as_money(150.5) == Decimal("150.5")  # GOSMS.GE's balance in a Node fixture
    assert as_money(99) == Decimal(99)
