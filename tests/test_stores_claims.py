"""The claim rules, checked against every claim store (memory and SQLite) with a fake clock."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsgate.stores import (
    Claim,
    ClaimConflict,
    ClaimState,
    ClaimStore,
    MemoryClaimStore,
    SqliteClaimStore,
)

from .conftest import FakeClock

S = ClaimState




@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[ClaimStore]:
    made: ClaimStore
    if request.param == "memory":
        made = MemoryClaimStore(clock=clock)
    else:
        made = SqliteClaimStore(tmp_path / "claims.db", clock=clock)
    yield made
    made.close()


def begin(store: ClaimStore, key: str = "k", lease: float = 10.0) -> Claim:
    won, claim = store.begin(key, lease=lease)
    assert won, claim
    return claim


def test_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryClaimStore(), ClaimStore)
    with SqliteClaimStore(tmp_path / "c.db") as sqlite_store:
        assert isinstance(sqlite_store, ClaimStore)


# -- begin ------------------------------------------------------------------------------------


def test_begin_takes_a_new_key_with_a_lease(store: ClaimStore, clock: FakeClock) -> None:
    assert store.get("k") is None
    claim = begin(store, lease=15)
    assert claim.state is S.SENDING
    assert claim.token and len(claim.token) >= 32
    assert claim.lease_until == clock.now + 15
    assert claim.created == claim.updated == clock.now
    assert store.get("k") == claim


def test_second_begin_of_a_held_key_loses_and_changes_nothing(store: ClaimStore) -> None:
    first = begin(store)
    won, seen = store.begin("k", lease=10)
    assert not won
    assert seen == first  # same token: nobody else got a token for it
    assert store.get("k") == first


def test_tokens_differ_between_keys_and_attempts(store: ClaimStore) -> None:
    a = begin(store, "a")
    b = begin(store, "b")
    assert a.token != b.token
    store.finish("a", a.token or "", S.NOT_SENT)
    again = begin(store, "a")
    assert again.token not in (a.token, b.token)


def test_expired_lease_becomes_unknown_never_new(store: ClaimStore, clock: FakeClock) -> None:
    held = begin(store, lease=10)
    clock.advance(9.999)
    won, claim = store.begin("k", lease=10)
    assert (won, claim.state) == (False, S.SENDING)
    clock.advance(0.001)  # the lease ends exactly now
    won, claim = store.begin("k", lease=10)
    assert not won
    assert claim.state is S.UNKNOWN
    assert claim.token == held.token  # the late holder can still report
    assert claim.updated == clock.now
    # And it stays unknown: no later begin, however late, takes it.
    clock.advance(10_000)
    for _ in range(3):
        won, claim = store.begin("k", lease=10)
        assert (won, claim.state) == (False, S.UNKNOWN)


def test_expired_lease_reads_as_unknown_and_is_stored_so(
    store: ClaimStore, clock: FakeClock
) -> None:
    begin(store, lease=5)
    clock.advance(6)
    got = store.get("k")
    assert got is not None and got.state is S.UNKNOWN
    # Stored, not just displayed: even with the clock turned back it stays unknown.
    clock.advance(-6)
    again = store.get("k")
    assert again is not None and again.state is S.UNKNOWN


@pytest.mark.parametrize("final", [S.ACCEPTED, S.REJECTED, S.UNKNOWN])
def test_begin_after_a_final_outcome_returns_it_unchanged(
    store: ClaimStore, clock: FakeClock, final: ClaimState
) -> None:
    held = begin(store)
    done = store.finish("k", held.token or "", final, provider="gosms.ge",
                        payload={"message_id": "42"})
    clock.advance(1_000)
    won, seen = store.begin("k", lease=10)
    assert not won
    assert seen == done
    assert seen.state is final


def test_not_sent_frees_the_key_for_a_fresh_begin(store: ClaimStore, clock: FakeClock) -> None:
    held = begin(store)
    store.finish("k", held.token or "", S.NOT_SENT, error="ConnectError: refused")
    clock.advance(2)
    won, claim = store.begin("k", lease=7)
    assert won
    assert claim.state is S.SENDING
    assert claim.token != held.token
    assert claim.lease_until == clock.now + 7
    assert claim.created == held.created  # the key's life, not the attempt's
    assert claim.error is None and claim.payload is None


@pytest.mark.parametrize("lease", [0, -1, float("nan"), float("inf"), True, "5"])
def test_begin_refuses_a_lease_that_is_not_a_positive_time(
    store: ClaimStore, lease: object
) -> None:
    with pytest.raises(ValueError, match="lease"):
        store.begin("k", lease=lease)  # type: ignore[arg-type]
    assert store.get("k") is None


@pytest.mark.parametrize("key", ["", None, 5])
def test_keys_must_be_non_empty_strings(store: ClaimStore, key: object) -> None:
    with pytest.raises(ValueError, match="key"):
        store.begin(key, lease=1)  # type: ignore[arg-type]


# -- finish -----------------------------------------------------------------------------------


def test_holder_finishes_with_its_outcome(store: ClaimStore, clock: FakeClock) -> None:
    held = begin(store)
    clock.advance(1.5)
    payload = {"provider": "gosms.ge", "message_id": "m-1", "cost": "0.05",
               "recipients": [{"phone": "+995555123456", "status": "queued"}]}
    done = store.finish("k", held.token or "", S.ACCEPTED, provider="gosms.ge",
                        payload=payload)
    assert done.state is S.ACCEPTED
    assert done.provider == "gosms.ge"
    assert done.payload == payload
    assert done.updated == clock.now and done.created == held.created
    assert done.lease_until is None
    assert store.get("k") == done


def test_finish_with_a_wrong_token_is_a_conflict(store: ClaimStore) -> None:
    held = begin(store)
    with pytest.raises(ClaimConflict, match="not held") as caught:
        store.finish("k", "0" * 32, S.ACCEPTED)
    assert caught.value.key == "k"
    assert caught.value.claim == held
    assert isinstance(caught.value, RuntimeError)
    assert store.get("k") == held


def test_finish_of_a_missing_claim_is_a_conflict(store: ClaimStore) -> None:
    with pytest.raises(ClaimConflict, match="does not exist"):
        store.finish("nope", "t", S.ACCEPTED)
    assert store.get("nope") is None


@pytest.mark.parametrize("first", [S.ACCEPTED, S.REJECTED, S.NOT_SENT])
@pytest.mark.parametrize("second", [S.ACCEPTED, S.REJECTED, S.NOT_SENT, S.UNKNOWN])
def test_a_final_claim_cannot_be_finished_again(
    store: ClaimStore, first: ClaimState, second: ClaimState
) -> None:
    held = begin(store)
    done = store.finish("k", held.token or "", first)
    with pytest.raises(ClaimConflict):
        store.finish("k", held.token or "", second)
    assert store.get("k") == done


@pytest.mark.parametrize("target", [S.NEW, S.SENDING])
def test_finish_refuses_states_that_are_not_outcomes(
    store: ClaimStore, target: ClaimState
) -> None:
    held = begin(store)
    with pytest.raises(ValueError, match="cannot be finished"):
        store.finish("k", held.token or "", target)
    assert store.get("k") == held


@pytest.mark.parametrize("outcome", [S.ACCEPTED, S.REJECTED, S.NOT_SENT, S.UNKNOWN])
def test_a_late_holder_still_reports_after_its_lease_ran_out(
    store: ClaimStore, clock: FakeClock, outcome: ClaimState
) -> None:
    held = begin(store, lease=3)
    clock.advance(30)
    seen = store.get("k")
    assert seen is not None and seen.state is S.UNKNOWN
    done = store.finish("k", held.token or "", outcome, payload={"late": True})
    assert done.state is outcome
    assert done.payload == {"late": True}


def test_a_late_holder_finishing_an_expired_claim_nobody_read(
    store: ClaimStore, clock: FakeClock
) -> None:
    held = begin(store, lease=3)
    clock.advance(30)  # nobody has looked: still stored as sending
    done = store.finish("k", held.token or "", S.ACCEPTED)
    assert done.state is S.ACCEPTED


def test_the_old_holder_cannot_finish_after_the_key_was_freed_and_retaken(
    store: ClaimStore,
) -> None:
    first = begin(store)
    store.finish("k", first.token or "", S.NOT_SENT)
    second = begin(store)
    with pytest.raises(ClaimConflict):
        store.finish("k", first.token or "", S.ACCEPTED)
    assert store.get("k") == second


def test_payload_must_be_json(store: ClaimStore) -> None:
    held = begin(store)
    with pytest.raises(TypeError, match="JSON"):
        store.finish("k", held.token or "", S.ACCEPTED, payload={"when": dt.date(2026, 1, 1)})
    with pytest.raises(TypeError, match="JSON"):
        store.finish("k", held.token or "", S.ACCEPTED, payload={"cost": float("nan")})
    with pytest.raises(TypeError, match="mapping"):
        store.finish("k", held.token or "", S.ACCEPTED, payload=[1, 2])  # type: ignore[arg-type]
    assert store.get("k") == held  # nothing half-written


def test_payload_is_a_copy_both_ways(store: ClaimStore) -> None:
    held = begin(store)
    payload: dict[str, object] = {"ids": ["a"]}
    done = store.finish("k", held.token or "", S.ACCEPTED, payload=payload)
    payload["ids"] = ["changed"]
    assert done.payload == {"ids": ["a"]}
    assert done.payload is not None
    done.payload["ids"].append("b")
    got = store.get("k")
    assert got is not None and got.payload == {"ids": ["a"]}


def test_repr_hides_token_and_payload(store: ClaimStore) -> None:
    held = begin(store)
    done = store.finish("k", held.token or "", S.ACCEPTED, payload={"phone": "+995555123456"})
    text = repr(done) + repr(held)
    assert held.token is not None and held.token not in text
    assert "+995555123456" not in text
    assert "accepted" in text


# -- renew ------------------------------------------------------------------------------------


def test_renew_extends_a_live_lease(store: ClaimStore, clock: FakeClock) -> None:
    held = begin(store, lease=10)
    clock.advance(8)
    renewed = store.renew("k", held.token or "", lease=10)
    assert renewed.lease_until == clock.now + 10
    clock.advance(8)  # past the first lease, inside the renewed one
    won, seen = store.begin("k", lease=10)
    assert (won, seen.state) == (False, S.SENDING)


def test_renew_after_the_lease_ran_out_is_refused(store: ClaimStore, clock: FakeClock) -> None:
    held = begin(store, lease=10)
    clock.advance(10)
    with pytest.raises(ClaimConflict, match="unknown"):
        store.renew("k", held.token or "", lease=10)
    got = store.get("k")
    assert got is not None and got.state is S.UNKNOWN


def test_renew_needs_the_token(store: ClaimStore) -> None:
    begin(store)
    with pytest.raises(ClaimConflict):
        store.renew("k", "f" * 32, lease=10)


# -- settle -----------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [S.ACCEPTED, S.REJECTED, S.NOT_SENT])
def test_settle_resolves_an_unknown_claim(
    store: ClaimStore, clock: FakeClock, outcome: ClaimState
) -> None:
    held = begin(store)
    store.finish("k", held.token or "", S.UNKNOWN, error="DeliveryUnknown: read timeout")
    clock.advance(60)
    settled = store.settle("k", outcome, payload={"status": "delivered"}, error=None)
    assert settled.state is outcome
    assert settled.token is None and settled.lease_until is None
    assert settled.payload == {"status": "delivered"}
    assert settled.updated == clock.now
    # The late holder can no longer overwrite the reconciled answer.
    with pytest.raises(ClaimConflict):
        store.finish("k", held.token or "", S.NOT_SENT)
    won, seen = store.begin("k", lease=10)
    assert won is (outcome is S.NOT_SENT)
    if not won:
        assert seen == settled


def test_settle_of_an_expired_sending_claim(store: ClaimStore, clock: FakeClock) -> None:
    begin(store, lease=1)
    clock.advance(2)
    assert store.settle("k", S.ACCEPTED).state is S.ACCEPTED


@pytest.mark.parametrize("current", [S.SENDING, S.ACCEPTED, S.REJECTED, S.NOT_SENT])
def test_settle_only_touches_unknown_claims(store: ClaimStore, current: ClaimState) -> None:
    held = begin(store)
    if current is not S.SENDING:
        held = store.finish("k", held.token or "", current)
    with pytest.raises(ClaimConflict, match="only an unknown"):
        store.settle("k", S.ACCEPTED)
    assert store.get("k") == held


def test_settle_of_a_missing_claim_is_a_conflict(store: ClaimStore) -> None:
    with pytest.raises(ClaimConflict):
        store.settle("nope", S.ACCEPTED)


@pytest.mark.parametrize("target", [S.UNKNOWN, S.SENDING, S.NEW])
def test_settle_targets_are_final_outcomes(store: ClaimStore, target: ClaimState) -> None:
    held = begin(store)
    store.finish("k", held.token or "", S.UNKNOWN)
    with pytest.raises(ValueError, match="settles as"):
        store.settle("k", target)


# -- find and purge ---------------------------------------------------------------------------


def test_find_lists_by_state_with_expired_sending_as_unknown(
    store: ClaimStore, clock: FakeClock
) -> None:
    short = begin(store, "short", lease=5)
    clock.advance(1)
    begin(store, "long", lease=100)
    clock.advance(1)
    done = begin(store, "done")
    store.finish("done", done.token or "", S.ACCEPTED)
    clock.advance(10)  # "short" has expired, "long" has not
    unknown = store.find(S.UNKNOWN)
    assert [c.key for c in unknown] == ["short"]
    assert unknown[0].token == short.token
    assert [c.key for c in store.find(S.SENDING)] == ["long"]
    assert [c.key for c in store.find(S.ACCEPTED)] == ["done"]
    assert store.find(S.NEW) == []
    assert store.find(S.REJECTED) == []
    # find stored the expiry: the claim stays unknown.
    clock.advance(-100)
    got = store.get("short")
    assert got is not None and got.state is S.UNKNOWN


def test_find_orders_oldest_first(store: ClaimStore, clock: FakeClock) -> None:
    for key in ["c", "a", "b"]:
        begin(store, key, lease=1)
        clock.advance(1)
    assert [c.key for c in store.find(S.UNKNOWN)] == ["c", "a", "b"]


def test_purge_removes_only_old_final_claims(store: ClaimStore, clock: FakeClock) -> None:
    for key, outcome in [("acc", S.ACCEPTED), ("rej", S.REJECTED), ("free", S.NOT_SENT),
                         ("unk", S.UNKNOWN)]:
        held = begin(store, key)
        store.finish(key, held.token or "", outcome)
    begin(store, "old-sending", lease=1_000_000)
    begin(store, "expired", lease=1)
    clock.advance(100)
    fresh = begin(store, "fresh")
    store.finish("fresh", fresh.token or "", S.ACCEPTED)
    clock.advance(50)
    assert store.purge(dt.timedelta(seconds=100)) == 3
    assert [k for k in ("acc", "rej", "free") if store.get(k) is not None] == []
    for key in ("unk", "old-sending", "expired", "fresh"):
        assert store.get(key) is not None, key
    assert store.purge(10) == 1  # "fresh"
    assert store.purge(0) == 0


@pytest.mark.parametrize("age", [-1, float("nan"), "1", dt.timedelta(seconds=-1)])
def test_purge_refuses_a_bad_age(store: ClaimStore, age: object) -> None:
    with pytest.raises(ValueError, match="older_than"):
        store.purge(age)  # type: ignore[arg-type]


# -- concurrency within one process ----------------------------------------------------------


def test_threads_racing_begin_get_exactly_one_winner_per_key(store: ClaimStore) -> None:
    keys = [f"key-{i}" for i in range(40)]
    barrier = threading.Barrier(8)
    wins: list[list[str]] = [[] for _ in range(8)]

    def worker(slot: int) -> None:
        barrier.wait()
        for key in keys:
            won, _ = store.begin(key, lease=60)
            if won:
                wins[slot].append(key)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everyone = [key for won in wins for key in won]
    assert sorted(everyone) == sorted(keys)


def test_claim_state_vocabulary() -> None:
    assert [s.value for s in ClaimState] == [
        "new", "sending", "accepted", "rejected", "not_sent", "unknown"]
    assert ClaimState("unknown") is S.UNKNOWN
    assert isinstance(S.ACCEPTED, str)
    assert f"{S.ACCEPTED.value}" == "accepted"
