"""The gateway's decisions are one table: every row fires where it should, the docs show the
table as it is, and each failed attempt names the row that fired."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import smsgate
from smsgate import Gateway, RetryPolicy
from smsgate._decisions import RULES, Action, Facts, decide, render
from smsgate._unexpected import unexpected
from smsgate.testing import MemoryProvider

GE = "+995555123456"
ROOT = Path(__file__).resolve().parent.parent


def err(cls: type[smsgate.ProviderError], **kwargs: Any) -> smsgate.ProviderError:
    return cls(cls.__name__, provider="memory", **kwargs)


# One case per row: facts that must fire exactly that row. A case that fires an earlier row
# means the order is wrong; a row with no case fails test_every_row_has_a_case.
CASES: dict[str, Facts] = {
    "claim-accepted": Facts("claim-accepted"),
    "claim-rejected": Facts("claim-rejected"),
    "claim-open": Facts("claim-open"),
    "policy-refusal": Facts("policy", smsgate.ValidationError("denied")),
    "unexpected": Facts("error", RuntimeError("bug"), retry_room=True),
    "validation": Facts("error", smsgate.MessageTooLong("long"), unknown_before=True),
    "recipient-rejected": Facts("error", err(smsgate.RecipientRejected), retry_room=True),
    "unknown-retry": Facts("error", err(smsgate.DeliveryUnknown, retryable=True), dedup=True,
                           retry_room=True),
    "rate-limited-wait": Facts("error", err(smsgate.RateLimited, retry_after=2.0),
                               retry_room=True),
    "retryable": Facts("error", err(smsgate.ProviderUnavailable), retry_room=True,
                       unknown_before=True),
    "unknown-failover": Facts("error", err(smsgate.DeliveryUnknown), failover_on_unknown=True),
    "unknown": Facts("error", err(smsgate.DeliveryUnknown, retryable=True), dedup=False,
                     retry_room=True),
    "deadline": Facts("deadline"),
    "breaker-open": Facts("breaker-open"),
    "not-reached": Facts("error", smsgate.InvalidPhoneNumber("elsewhere")),
    "unsupported": Facts("error", smsgate.UnsupportedFeature("no")),
    "rate-limited-over-cap": Facts("error", err(smsgate.RateLimited, retry_after=99.0),
                                   retry_room=True, over_cap=True),
    "retries-exhausted": Facts("error", err(smsgate.ConnectError), retry_room=False),
    "refusal": Facts("error", err(smsgate.InsufficientFunds)),
    "exhausted": Facts("exhausted"),
}

# Facts that look like a later row but must be caught by an earlier one.
PRECEDENCE: list[tuple[str, Facts]] = [
    # An earlier attempt may have sent: a deadline, open breaker or refusal now must not
    # let the gateway move on to another provider.
    ("unknown", Facts("deadline", unknown_before=True)),
    ("unknown", Facts("breaker-open", unknown_before=True)),
    ("unknown", Facts("error", smsgate.InvalidPhoneNumber("x"), unknown_before=True)),
    ("unknown", Facts("error", err(smsgate.RateLimited, retry_after=99.0), over_cap=True,
                      unknown_before=True)),
    ("unknown-failover", Facts("deadline", unknown_before=True, failover_on_unknown=True)),
    # A bug is never an answer, whatever else holds.
    ("unexpected", Facts("error", unexpected("memory", RuntimeError("x"), may_have_sent=True),
                         failover_on_unknown=True)),
    # Over the cap: no wait, even with room for a retry.
    ("rate-limited-over-cap", Facts("error", err(smsgate.ProviderUnavailable, retry_after=60.0),
                                    retry_room=True, over_cap=True)),
    # A bad recipient is never retried.
    ("recipient-rejected", Facts("error", err(smsgate.RecipientRejected, retryable=True),
                                 retry_room=True)),
]


def test_every_row_has_a_case_and_ids_are_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(set(ids)) == len(ids)
    assert set(CASES) == set(ids)


@pytest.mark.parametrize("rule_id", [r.id for r in RULES])
def test_each_row_fires_for_its_case(rule_id: str) -> None:
    assert decide(CASES[rule_id]).id == rule_id


@pytest.mark.parametrize(("rule_id", "facts"), PRECEDENCE,
                         ids=[f"{i}-{rule_id}" for i, (rule_id, _) in enumerate(PRECEDENCE)])
def test_precedence(rule_id: str, facts: Facts) -> None:
    assert decide(facts).id == rule_id


def test_actions_are_those_documented() -> None:
    actions = {r.id: r.action for r in RULES}
    assert actions["unknown"] is Action.RAISE
    assert actions["unknown-failover"] is Action.FAILOVER
    assert actions["breaker-open"] is Action.SKIP
    assert actions["rate-limited-wait"] is Action.WAIT_RETRY
    assert actions["claim-accepted"] is Action.RETURN


def test_the_gateway_docstring_shows_the_table() -> None:
    assert render("rst") in (smsgate.gateway.__doc__ or "")


def test_failover_md_shows_the_table() -> None:
    text = (ROOT / "docs" / "failover.md").read_text(encoding="utf-8")
    shown = re.search(r"<!-- decisions:start[^>]*-->\n(.*?)<!-- decisions:end -->", text,
                      re.DOTALL)
    assert shown is not None, "docs/failover.md lost its generated table markers"
    assert shown.group(1) == render("markdown"), (
        "docs/failover.md's decision table drifted; paste `python -m smsgate._decisions`")


# -- each Attempt names the rule that fired --------------------------------------------------
def test_attempts_record_the_rule_that_fired() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.script(err(smsgate.RateLimited, retry_after=1.0), err(smsgate.ProviderUnavailable),
             err(smsgate.ConnectError))
    gw = Gateway([a, b], retry=RetryPolicy(attempts=3, backoff=0.0), sleep=lambda s: None)
    result = gw.send(GE, "Hi")
    failed = [x for x in result.attempts if x.error]
    assert [(x.error, x.rule) for x in failed] == [
        ("RateLimited", "rate-limited-wait"),
        ("ProviderUnavailable", "retryable"),
        ("ConnectError", "retries-exhausted"),
    ]


def test_the_raising_attempt_names_its_rule() -> None:
    a, b = MemoryProvider(), MemoryProvider()
    a.fail_next(err(smsgate.DeliveryUnknown))
    b.fail_next(err(smsgate.InsufficientFunds))
    gw = Gateway([b, a], retry=None)
    with pytest.raises(smsgate.DeliveryUnknown):
        gw.send(GE, "Hi")
    # The refusal on b failed over (rule "refusal"); the unknown on a stopped the chain.
    ok = Gateway([b, MemoryProvider()], retry=None)
    b.fail_next(err(smsgate.InsufficientFunds))
    result = ok.send(GE, "Hi")
    assert [(x.error, x.rule) for x in result.attempts if x.error] == [
        ("InsufficientFunds", "refusal")]


def test_budget_spent_turns_a_retry_into_retries_exhausted() -> None:
    a = MemoryProvider()
    a.script(*[err(smsgate.ProviderUnavailable)] * 50)
    gw = Gateway([a], retry=RetryPolicy(attempts=3, backoff=0.0, budget_initial=1,
                                        budget_ratio=0.0), sleep=lambda s: None, breaker=None)
    with pytest.raises(smsgate.AllProvidersFailed):
        gw.send(GE, "Hi")  # one retry from the budget, then it is spent
    assert len(a.calls) == 2
