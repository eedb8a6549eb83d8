"""Reconciliation: settle the claims whose outcome is unknown by asking the provider.

A claim is UNKNOWN when a send may have gone out and nobody heard how it ended: the reply was
lost, or the process died mid-send and its lease ran out. Resending would risk a duplicate;
forgetting it would risk a loss. :func:`reconcile` asks the provider what it received and
records the answer with :meth:`~smsgate.stores.ClaimStore.settle`:

* every recipient known to the provider and at least one accepted (queued, sent, delivered)
  → ACCEPTED, with a result built from the provider's statuses: the same key then returns
  that result without a request;
* every recipient known and none accepted (failed, rejected, expired) → REJECTED: the
  provider received it and refused it, so it is not sent again under that key;
* anything less certain (no way to look the send up, the provider does not know the send,
  some recipients unknown, the lookup failed) → left UNKNOWN and listed with the reason.

It never sends: a message the provider reports as received is never sent again, and one it
does not know is never assumed unsent (a provider that has not processed a request yet does
not know it either). Settle such a claim yourself with ``claims.settle(key,
ClaimState.NOT_SENT)`` once you know better.

How a send is looked up. A claimed send keeps what it is about to send on its claim before
the request (recipients, providers, reference). Providers that track sends by a reference
chosen by the sender (SMSOffice.ge) are looked up by that reference: the caller's, or the
one the gateway derived from the key. A provider known only by the message id it returns
(GOSMS.GE, SMSGist) cannot be asked about a send whose reply was lost; such claims are listed
as unsettled, with that reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ._plan import result_to_payload
from ._protocol import SmsProvider
from .errors import NotFound, SmsGateError
from .models import RecipientResult, SendResult, Status, StatusResult
from .stores._claims import Claim, ClaimConflict, ClaimState, ClaimStore

__all__ = ["ReconcileReport", "Settled", "Unsettled", "reconcile"]


@attrs.frozen
class Settled:
    """A claim :func:`reconcile` settled: ``state`` is ACCEPTED or REJECTED."""

    key: str
    state: ClaimState
    provider: str
    message_id: str


@attrs.frozen
class Unsettled:
    """A claim :func:`reconcile` could not settle, and why (it stays as it was)."""

    key: str
    reason: str


@attrs.frozen
class ReconcileReport:
    """What :func:`reconcile` did, claim by claim."""

    settled: tuple[Settled, ...] = ()
    unsettled: tuple[Unsettled, ...] = ()

    @property
    def ok(self) -> bool:
        """Every claim looked at was settled."""
        return not self.unsettled


def reconcile(
    provider_or_gateway: SmsProvider,
    claims: ClaimStore,
    keys: Iterable[str] | None = None,
) -> ReconcileReport:
    """Settle UNKNOWN claims by asking the provider; never send.

    Args:
        provider_or_gateway: the provider the sends went through, or the
            :class:`~smsgate.Gateway` (each claim is matched to its providers by their keys
            and names).
        claims: the store holding the claims.
        keys: the idempotency keys to settle; default: every UNKNOWN claim in the store
            (an expired SENDING claim counts as UNKNOWN).

    Returns:
        A :class:`ReconcileReport`: the claims settled, and those left as they were with a
        reason (a key that is not UNKNOWN is listed too, and left alone).
    """
    providers = _members(provider_or_gateway)
    if keys is None:
        pairs: list[tuple[str, Claim | None]] = [
            (c.key, c) for c in claims.find(ClaimState.UNKNOWN)]
    else:
        pairs = [(key, claims.get(key)) for key in keys]
    settled: list[Settled] = []
    unsettled: list[Unsettled] = []
    for key, claim in pairs:
        if claim is None:
            unsettled.append(Unsettled(key, "no claim under this key"))
            continue
        if claim.state is not ClaimState.UNKNOWN:
            unsettled.append(Unsettled(key, f"the claim is {claim.state.value}, not unknown"))
            continue
        outcome = _settle_one(claim, providers)
        if isinstance(outcome, Unsettled):
            unsettled.append(outcome)
            continue
        state, result = outcome
        try:
            claims.settle(key, state, payload=result_to_payload(result),
                          error=None if state is ClaimState.ACCEPTED
                          else "the provider reports it refused")
        except ClaimConflict as conflict:
            unsettled.append(Unsettled(key, f"changed meanwhile: {conflict}"))
            continue
        settled.append(Settled(key, state, result.provider, result.message_id or ""))
    return ReconcileReport(tuple(settled), tuple(unsettled))


def _members(target: SmsProvider) -> list[tuple[SmsProvider, str]]:
    """``(provider, key)`` for the target: a gateway's providers, or the provider itself."""
    from .gateway import Gateway

    if isinstance(target, Gateway):
        chains = (target.providers, *target.routes.values())
        everyone = {id(p): p for chain in chains for p in chain}
        return [(p, target.provider_key(p)) for p in everyone.values()]
    key = getattr(target, "state_key", None)
    return [(target, key if isinstance(key, str) else target.name)]


def _settle_one(
    claim: Claim, providers: Sequence[tuple[SmsProvider, str]]
) -> tuple[ClaimState, SendResult] | Unsettled:
    intent: Mapping[str, Any] = (claim.payload or {}).get("intent") or {}
    recipients = [str(r) for r in intent.get("recipients") or []]
    reference = intent.get("reference")
    if not recipients:
        return Unsettled(claim.key, "the claim does not say what was sent (no recipients)")
    named = {str(key) for _name, key in intent.get("providers") or []}
    candidates = [p for p, key in providers if key in named or p.name == claim.provider]
    if not candidates:
        return Unsettled(claim.key, "none of the given providers sent under this claim")
    if claim.provider is not None:
        # The provider that answered (with an unknown outcome) is the one to ask.
        candidates = [p for p in candidates if p.name == claim.provider] or candidates
    reasons: list[str] = []
    for provider in candidates:
        if "status" not in provider.capabilities:
            reasons.append(f"{provider.name} has no status lookups")
            continue
        if "reference" not in provider.capabilities or not isinstance(reference, str):
            reasons.append(f"{provider.name} can be asked only by the message id, which a "
                           "lost reply never gave")
            continue
        answer = _ask(provider, reference, recipients)
        if isinstance(answer, str):
            reasons.append(answer)
            continue
        accepted = any(s.accepted for s in answer)
        result = SendResult(
            provider=provider.name, message_id=reference,
            recipients=[RecipientResult(phone=n, status=s, message_id=reference)
                        for n, s in zip(recipients, answer, strict=True)],
            idempotency_key=claim.key,
        )
        return (ClaimState.ACCEPTED if accepted else ClaimState.REJECTED), result
    return Unsettled(claim.key, "; ".join(reasons))


def _ask(provider: SmsProvider, reference: str, recipients: list[str]) -> list[Status] | str:
    """Each recipient's status by reference, or why the answer settles nothing."""
    statuses: list[Status] = []
    for number in recipients:
        try:
            found: StatusResult = provider.status(reference, recipient=number)
        except NotFound:
            return f"{provider.name} does not know reference {reference!r}"
        except SmsGateError as exc:
            return f"{provider.name}'s status lookup failed ({type(exc).__name__})"
        status = found.status
        for one in found.recipients:
            if one.phone in (None, number):
                status = one.status
                break
        if status is Status.UNKNOWN:
            return (f"{provider.name} reports no known status for reference {reference!r}"
                    " (not proof that nothing was sent)")
        statuses.append(status)
    return statuses
