"""The gateway's decisions, as one table evaluated by one pure function.

Every rule the send plan (:mod:`smsgate._plan`) applies to an outcome (an error a provider
raised, a breaker that is open, a deadline that ran out, a send policy's refusal, a claim
already settled) is one :class:`Rule` row of :data:`RULES`: a stable id, a condition over
the :class:`Facts` the plan gathered, an :class:`Action` and the words the documentation
shows. :func:`decide` returns the first row whose condition holds. The plan performs the
action; it never decides on its own.

The table is the one source: the gateway's module docstring and ``docs/failover.md`` hold
:func:`render` of it (a test fails when they drift; ``python -m smsgate._decisions`` prints
both forms), a table-driven test covers every row, and every :class:`~smsgate.Attempt` of a
failed exchange names the row that fired (:attr:`~smsgate.Attempt.rule`).

Order matters and says why: raising rows come before retrying ones (a bad recipient is not
retried), retries before the unknown-outcome rows (a provider that deduplicates by key may
repeat a send that may have gone out), and the unknown-outcome rows before every row that
moves on (once a message may have been sent, no later "nothing sent" may let the gateway
send it elsewhere).
"""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Callable
from typing import Final, Literal

import attrs

from ._unexpected import UnexpectedError
from .errors import (
    InvalidPhoneNumber,
    ProviderError,
    RecipientRejected,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)

__all__ = ["RULES", "Action", "Facts", "Rule", "decide", "render"]


class Action(str, enum.Enum):
    """What the plan does when a row fires."""

    #: Raise the outcome now: no retry, no failover.
    RAISE = "raise"
    #: Try the same provider again after a full-jitter backoff.
    RETRY = "retry"
    #: Try the same provider again after the wait it asked for (``retry_after``).
    WAIT_RETRY = "wait-and-retry"
    #: Go on to the next provider (the error is kept for ``AllProvidersFailed``).
    FAILOVER = "failover"
    #: Make no request to this provider and go on to the next.
    SKIP = "skip"
    #: Return a result without any request.
    RETURN = "return"


#: What the plan is deciding about.
Situation = Literal[
    "error",          # an attempt raised (or a provider was unfit before any request)
    "breaker-open",   # the provider's circuit denies a request
    "deadline",       # no time is left to try the provider
    "policy",         # the send policy refused the send
    "exhausted",      # every provider of the chain was tried or skipped
    "claim-accepted", # the idempotency key's claim holds an accepted result
    "claim-rejected", # the key's claim says the provider refused the message
    "claim-open",     # the key's claim is UNKNOWN, or SENDING elsewhere
]


@attrs.frozen
class Facts:
    """What the plan knows when it decides; every field is data, nothing is looked up.

    Attributes:
        situation: what is being decided about.
        error: the attempt's error (``situation == "error"``).
        unknown_before: an earlier attempt on this provider may have sent the message.
        dedup: the provider deduplicates by idempotency key (``idempotency`` capability).
        failover_on_unknown: the caller opted into failover after an unknown outcome.
        retry_room: a retry is possible: attempts left, its wait ends before the deadline,
            and the retry budget has a token.
        over_cap: the error's ``retry_after`` is longer than ``RetryPolicy.max_retry_after``.
    """

    situation: Situation = "error"
    error: BaseException | None = None
    unknown_before: bool = False
    dedup: bool = False
    failover_on_unknown: bool = False
    retry_room: bool = False
    over_cap: bool = False

    @property
    def may_have_sent(self) -> bool:
        return isinstance(self.error, ProviderError) and self.error.may_have_sent

    @property
    def retryable(self) -> bool:
        return isinstance(self.error, ProviderError) and self.error.retryable

    @property
    def unknown(self) -> bool:
        """This attempt, or an earlier one on the provider, may have sent the message."""
        return self.may_have_sent or self.unknown_before


@attrs.frozen
class Rule:
    """One row: ``when`` the condition holds, ``then`` the action (both as documented)."""

    id: str
    condition: Callable[[Facts], bool] = attrs.field(repr=False)
    action: Action
    when: str
    then: str


def _error(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Callable[[Facts], bool]:
    return lambda f: f.situation == "error" and isinstance(f.error, kind)


def _is_bug(f: Facts) -> bool:
    return f.situation == "error" and (
        isinstance(f.error, UnexpectedError) or not isinstance(f.error, SmsGateError)
    )


def _validation(f: Facts) -> bool:
    return (
        f.situation == "error"
        and isinstance(f.error, ValidationError)
        and not isinstance(f.error, (InvalidPhoneNumber, UnsupportedFeature))
    )


def _retry_ok(f: Facts) -> bool:
    """A retry of the same request cannot duplicate and there is room for one."""
    return (f.retryable and f.retry_room and not f.over_cap
            and (not f.may_have_sent or f.dedup))


def _has_wait(f: Facts) -> bool:
    return isinstance(f.error, ProviderError) and f.error.retry_after is not None


#: The table, in the order :func:`decide` reads it.
RULES: Final[tuple[Rule, ...]] = (
    Rule("claim-accepted", lambda f: f.situation == "claim-accepted", Action.RETURN,
         "the idempotency key's claim is ACCEPTED",
         "returns the stored result: zero requests"),
    Rule("claim-rejected", lambda f: f.situation == "claim-rejected", Action.RAISE,
         "the idempotency key's claim is REJECTED",
         "raises ``RecipientRejected`` again: zero requests"),
    Rule("claim-open", lambda f: f.situation == "claim-open", Action.RAISE,
         "the key's claim is UNKNOWN (or SENDING elsewhere)",
         "raises ``DeliveryUnknown`` until reconciled: zero requests"),
    Rule("policy-refusal", lambda f: f.situation == "policy", Action.RAISE,
         "the send policy refuses the send",
         "raised at once: zero requests, no failover"),
    Rule("unexpected", _is_bug, Action.RAISE,
         "an exception that is not smsgate's (a bug), or a reply that is not a ``SendResult``",
         "raised: as itself while nothing was obtained, else as a ``ProviderError`` with "
         "``may_have_sent=True``; never failed over"),
    Rule("validation", _validation, Action.RAISE,
         "``ValidationError`` (bad number, text, sender)",
         "raised at once: another provider won't help"),
    Rule("recipient-rejected", _error(RecipientRejected), Action.RAISE,
         "``RecipientRejected``",
         "raised at once: the number is the problem"),
    Rule("unknown-retry", lambda f: f.may_have_sent and _retry_ok(f), Action.RETRY,
         "``may_have_sent=True`` and the provider deduplicates by key (SMSGist)",
         "retried on the same provider with the same key"),
    Rule("rate-limited-wait",
         lambda f: _has_wait(f) and _retry_ok(f), Action.WAIT_RETRY,
         "``RateLimited`` (or any retryable error) with ``retry_after`` ≤ the cap",
         "waits ``retry_after``, then retries the same provider"),
    Rule("retryable", _retry_ok, Action.RETRY,
         "other retryable errors (5xx, connect failures)",
         "retries with full-jitter backoff"),
    Rule("unknown-failover", lambda f: f.unknown and f.failover_on_unknown, Action.FAILOVER,
         "``may_have_sent=True`` with ``failover_on_unknown=True``",
         "fails over (the message may go out twice: the opt-in's risk)"),
    Rule("unknown", lambda f: f.unknown, Action.RAISE,
         "``may_have_sent=True`` (``DeliveryUnknown``, ``InvalidResponse``, 502/504), now "
         "or on an earlier try of this provider",
         "raised at once: a second send could be a duplicate"),
    Rule("deadline", lambda f: f.situation == "deadline", Action.SKIP,
         "the deadline leaves no time to try a provider",
         "skips it: zero requests"),
    Rule("breaker-open", lambda f: f.situation == "breaker-open", Action.SKIP,
         "breaker open for a provider",
         "skips it: zero requests"),
    Rule("not-reached", _error(InvalidPhoneNumber), Action.FAILOVER,
         "``InvalidPhoneNumber`` from a provider (a country it does not reach)",
         "fails over to the next provider"),
    Rule("unsupported", _error(UnsupportedFeature), Action.FAILOVER,
         "``UnsupportedFeature`` (an option the provider lacks)",
         "fails over (zero requests to it)"),
    Rule("rate-limited-over-cap", lambda f: f.situation == "error" and f.over_cap,
         Action.FAILOVER,
         "``RateLimited`` with ``retry_after`` over the cap",
         "fails over at once, without sleeping"),
    Rule("retries-exhausted", lambda f: f.situation == "error" and f.retryable,
         Action.FAILOVER,
         "a retryable error with no retry left (attempts, budget or deadline)",
         "fails over"),
    Rule("refusal", lambda f: f.situation == "error", Action.FAILOVER,
         "auth, funds, sender and other refusals",
         "fails over at once"),
    Rule("exhausted", lambda f: f.situation == "exhausted", Action.RAISE,
         "every provider tried or skipped",
         "raises ``AllProvidersFailed``, one error per provider in order"),
)

_BY_ID: Final = {rule.id: rule for rule in RULES}
assert len(_BY_ID) == len(RULES), "rule ids are unique"


def decide(facts: Facts) -> Rule:
    """The first row of :data:`RULES` whose condition holds for ``facts`` (pure)."""
    if facts.error is None:
        # Facts without an error (a skipped provider, a claim's state, the end of a chain)
        # are a few hundred combinations of flags: each is looked up in the table once.
        known = _DECIDED.get(facts)
        if known is not None:
            return known
    for rule in RULES:
        if rule.condition(facts):
            if facts.error is None:
                _DECIDED[facts] = rule
            return rule
    raise AssertionError(f"no rule for {facts!r}")  # the table ends with catch-all rows


#: The row :func:`decide` found for each error-free set of facts met so far.
_DECIDED: dict[Facts, Rule] = {}


def rule(rule_id: str) -> Rule:
    """The row with id ``rule_id``."""
    return _BY_ID[rule_id]


def render(style: Literal["rst", "markdown"]) -> str:
    """The table as the gateway docstring (``"rst"``) or ``docs/failover.md`` shows it."""
    if style == "markdown":
        lines = ["| rule | when | what the gateway does |", "|---|---|---|"]
        lines += [f"| `{r.id}` | {_md(r.when)} | {_md(r.then)} |" for r in RULES]
        return "\n".join(lines) + "\n"
    # 100 columns at most: the project's line length.
    first = max(len(r.id) for r in RULES) + 4
    width = (first, (96 - first) // 2, 96 - first - (96 - first) // 2)
    border = "  ".join("=" * w for w in width)
    rows = [border, _rst_row(("rule", "when", "what the gateway does"), width), border]
    for r in RULES:
        rows.append(_rst_row((f"``{r.id}``", r.when, r.then), width))
    rows.append(border)
    return "\n".join(rows) + "\n"


def _md(text: str) -> str:
    return text.replace("``", "`").replace("|", "\\|")


def _rst_row(cells: tuple[str, str, str], width: tuple[int, int, int]) -> str:
    """One row, each cell wrapped to its column (continuation lines stay in the column)."""
    wrapped = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""]
               for cell, w in zip(cells, width, strict=True)]
    height = max(len(lines) for lines in wrapped)
    out = []
    for i in range(height):
        parts = [(lines[i] if i < len(lines) else "").ljust(w)
                 for lines, w in zip(wrapped, width, strict=True)]
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    print(render("rst"))
    print(render("markdown"))
