"""One merge of partial send results: chunks of a bulk send, route groups, CLI batches.

Every place that splits a send and reports it as one result uses :func:`merge_results`, so a
merged result means the same wherever it comes from: recipients in the order given, costs
summed per currency, the last balance reported and the idempotency key kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from .models import _NO_COSTS, Attempt, RecipientResult, SendResult

__all__ = ["merge_results"]


def merge_results(
    parts: Sequence[SendResult],
    *,
    provider: str | None = None,
    recipients: Iterable[RecipientResult] | None = None,
    attempts: Iterable[Attempt] | None = None,
    segments: int | None = None,
    encoding: str | None = None,
    idempotency_key: str | None = None,
) -> SendResult:
    """One :class:`SendResult` for several partial ones (at least one).

    Args:
        parts: the partial results, in the order they were sent.
        provider: the name to report; default: the parts' providers, each once, joined
            with commas.
        recipients: the merged recipients in input order; default: the parts' in turn.
        attempts: every exchange made; default: the parts' in turn.
        segments, encoding: used when no part that answered reports them.
        idempotency_key: used when no part carries one.

    ``cost``/``currency`` are set when every part was charged and in one currency; ``costs``
    always holds the sum per currency of the parts that report a charge. ``balance`` is the
    last one reported (the provider's most recent word), ``message_id`` the first.
    """
    if not parts:
        raise ValueError("merge_results needs at least one part")
    answered = [p for p in parts if p.message_id is not None] or list(parts)
    costs = _summed(part.costs for part in parts)
    every_part_charged = all(p.cost is not None for p in parts)
    single = len(costs) == 1 and every_part_charged
    (currency_key, total), = costs.items() if single else ((None, None),)
    return SendResult(
        provider=provider if provider is not None
        else ",".join(dict.fromkeys(p.provider for p in parts)),
        message_id=next((p.message_id for p in parts if p.message_id is not None), None),
        recipients=list(recipients) if recipients is not None
        else [r for p in parts for r in p.recipients],
        segments=next((p.segments for p in answered if p.segments is not None), segments),
        encoding=next((p.encoding for p in answered if p.encoding), encoding),
        cost=total,
        currency=(currency_key or None) if single else None,
        balance=next((p.balance for p in reversed(parts) if p.balance is not None), None),
        idempotency_key=next(
            (p.idempotency_key for p in parts if p.idempotency_key), idempotency_key
        ),
        attempts=list(attempts) if attempts is not None
        else [a for p in parts for a in p.attempts],
        raw=[p.raw for p in parts],
        costs=costs or _NO_COSTS,
        estimated_costs=_summed(part.estimated_costs for part in parts) or _NO_COSTS,
    )


def _summed(each: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    """Amounts summed per currency."""
    total: dict[str, Decimal] = {}
    for amounts in each:
        for currency, amount in amounts.items():
            total[currency] = total.get(currency, Decimal(0)) + amount
    return total
