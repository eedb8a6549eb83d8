"""PriceTable and estimate() (issue 19): the cost before sending, with each provider's own
segment counting, equal to what the sandbox bills wherever the provider reports a cost."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

import smsgate
from smsgate import ConfigurationError, Gateway, PriceTable, estimate
from smsgate.guards import Price, count_segments
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

from .guards_helpers import GOOD, GOOD_2, counted

PRICES = {"gosms.ro": {"*": "0.03 EUR"}, "smsgist": {"GH": "0.03 GHS"}}


def test_price_table_from_a_dict_and_from_toml(tmp_path: Path) -> None:
    table = PriceTable.from_dict({"gosms.ro": {"ro": "0.035 eur", "*": {"price": "0.09",
                                                                     "currency": "EUR"}}})
    assert table.price("gosms.ro", "RO") == Price(Decimal("0.035"), "EUR")
    assert table.price("gosms.ro", "GE") == Price(Decimal("0.09"), "EUR")
    assert table.price("smsgist", "GH") is None
    path = tmp_path / "smsgate.toml"
    path.write_text('[prices."gosms.ge"]\nGE = "1 credits"\n[prices.smsgist]\nGH = "0.03 GHS"\n')
    loaded = PriceTable.from_toml(path)
    assert loaded.price("gosms.ge", "GE") == Price(Decimal(1), "credits")
    assert loaded.providers == {"gosms.ge", "smsgist"}
    for bad in ({"x": {"GE": 0.03}}, {"x": {"GE": "0.03"}}, {"x": {"Georgia": "1 EUR"}},
                {"x": {"GE": "-1 EUR"}}, {"x": {"GE": "NaN EUR"}}, {"x": "1 EUR"}):
        with pytest.raises(ConfigurationError):
            PriceTable.from_dict(bad)


def test_each_provider_counts_its_own_segments() -> None:
    text = "Salut! Codul este 1234 {ok}"  # braces: GSM-7 escapes, GoSMS.ro's 2-byte set
    assert count_segments("memory", text) == ("GSM-7", 1)
    assert count_segments("gosms.ro", text) == ("UCS-2", 1)
    assert count_segments("gosms.ro", "a" * 71 + "{") == ("UCS-2", 2)  # 70 / 63 there
    assert count_segments("memory", "a" * 71 + "{") == ("GSM-7", 1)
    # SMSGist bills by its documented arithmetic; smsgate's exact counter moves an escape
    # pair that would straddle two parts, which can take one part more.
    straddling = "a" * 152 + "€" + "a" * 152  # 306 septets, the escape at septet 153
    assert count_segments("smsgist", straddling) == ("GSM-7", 2)
    assert smsgate.segments(straddling).segments == 3


def test_estimate_through_a_gateway_prices_the_route_each_recipient_takes() -> None:
    ro, _ = counted()
    memory = MemoryProvider()
    gateway = Gateway([memory], routes={"RO": [ro]})
    prices = PriceTable.from_dict({"gosms.ro": {"RO": "0.035 EUR"},
                                   "memory": {"GE": "0.02 EUR"}})
    found = estimate(gateway, [GOOD, GOOD_2, GOOD], "x" * 161, prices=prices)
    assert [(r.phone, r.provider, r.segments) for r in found.recipients] == [
        (GOOD, "memory", 2), (GOOD_2, "gosms.ro", 2)]
    assert found.cost == Decimal("0.110") and found.currency == "EUR"
    assert found.segments == 4
    unpriced = estimate(gateway, ["+4915123456789"], "hi", prices=prices)
    assert unpriced.unpriced == ("+4915123456789",) and unpriced.cost is None
    with pytest.raises(ConfigurationError):
        estimate(gateway, GOOD, "hi")  # no prices anywhere
    gateway_with = Gateway([memory], policy=smsgate.SendPolicy(prices=prices))
    assert estimate(gateway_with, GOOD, "hi").cost == Decimal("0.02")


def _text(rng: random.Random) -> str:
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,!?",
        "abcdef {}[]~^|€\\ 0123",  # GSM-7 extension characters
        "abcdefé ü à ñ Ø Å ÿ ô",  # Latin-1: GSM-7 for some, one byte for GoSMS.ro
        "Salut ăâîșț ĂÂÎȘȚ 123",  # Romanian diacritics
        "გამარჯობა კოდი 12",  # Georgian
        "ok 😀 👍🏽 ab",  # beyond the BMP
    ]
    chosen = rng.sample(alphabets, rng.randint(1, 2))
    length = rng.choice([rng.randint(1, 80), rng.randint(60, 170), rng.randint(150, 320)])
    return "".join(rng.choice(rng.choice(chosen)) for _ in range(length)).strip() or "x"


def test_estimate_equals_the_sandboxs_billed_cost_for_every_send() -> None:
    rng = random.Random(1919)
    prices = PriceTable.from_dict(PRICES)
    compared = 0
    with Sandbox(delivery_delay=60, balance={"gosms.ro": "100000", "smsgist": "100000"}) as box:
        ro = box.provider("gosms.ro")
        gist = box.provider("smsgist", sender="Shop")
        for index in range(120):
            text = _text(rng)
            number = f"+40722{index:04d}17"
            result = ro.send(number, text)
            expected = estimate(ro, number, text, prices=prices)
            assert result.cost is not None
            assert (result.cost, result.currency) == (expected.cost, expected.currency), text
            assert result.segments == expected.segments
            compared += 1
            # (Numbers ending 0000 are the sandbox's stop-listed ones: not these.)
            numbers = [f"+23324{index:04d}{k:03d}" for k in range(1, rng.randint(2, 4))]
            result = gist.send(numbers, text)
            assert result.ok
            expected = estimate(gist, numbers, text, prices=prices)
            assert result.cost is not None
            assert (result.cost, result.currency) == (expected.cost, expected.currency), text
            compared += 1
    assert compared == 240


def test_a_result_keeps_the_estimate_beside_the_billed_cost() -> None:
    """With prices in the send policy, a result carries what the send was expected to cost
    (``estimated_costs``) beside what the provider billed (``costs``): through a provider, a
    gateway and a multi-route gateway (summed per currency), and from a claim's replay."""
    from smsgate import Gateway, SendPolicy
    from smsgate.stores import MemoryClaimStore

    prices = PriceTable.from_dict(PRICES)
    policy = SendPolicy(prices=prices)
    text = "Your code is 1234"
    with Sandbox(balance={"gosms.ro": "1000", "smsgist": "1000"}) as box:
        ro = box.provider("gosms.ro")
        ro.policy = policy
        alone = ro.send("+40722000117", text)
        assert alone.costs and alone.estimated_costs == alone.costs
        gist = box.provider("smsgist", sender="Shop")
        claims = MemoryClaimStore()
        gateway = Gateway([], routes={"RO": [ro], "GH": [gist]}, policy=policy, claims=claims)
        both = gateway.send(["+40722000217", "+233240000117"], text, idempotency_key="k")
        assert set(both.estimated_costs) == {"EUR", "GHS"}
        assert both.estimated_costs == both.costs
        single = Gateway([ro], policy=policy, claims=claims)
        first = single.send("+40722000317", text, idempotency_key="one")
        replayed = single.send("+40722000317", text, idempotency_key="one")
        assert replayed.estimated_costs == first.estimated_costs == first.costs
        unpriced = Gateway([box.provider("gosms.ro")], policy=SendPolicy())
        plain = unpriced.send("+40722000417", text)
        assert plain.costs and plain.estimated_costs == {}  # no prices, no estimate
