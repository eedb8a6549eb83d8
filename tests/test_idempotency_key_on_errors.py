"""An error whose send may have gone out carries the idempotency key it used, so that the send
can be repeated without a duplicate: over real sockets against the sandbox, through the
Gateway and through the CLI."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smsgate import (
    AllProvidersFailed,
    AuthenticationError,
    DeliveryUnknown,
    Gateway,
    ProviderError,
    RetryPolicy,
)
from smsgate._cli import Settings, cli
from smsgate.sandbox import Sandbox
from smsgate.testing import MemoryProvider

GHANA = "+233245972246"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.1) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sandbox.clear_faults()
    monkeypatch.delenv("SMSGATE_URL", raising=False)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def ledger(sandbox: Sandbox, key_prefix: str) -> list[Any]:
    return [m for m in sandbox.messages("smsgist")
            if (m.idempotency_key or "").startswith(key_prefix)]


# -- the library -----------------------------------------------------------------------------
def test_a_lost_reply_carries_the_minted_key_and_repeating_with_it_sends_once(
    sandbox: Sandbox,
) -> None:
    gist = sandbox.provider("smsgist", sender="Demo")
    sandbox.fault("smsgist", "process_then_reset", times=1)
    with pytest.raises(DeliveryUnknown) as info:
        gist.send(GHANA, "Hello once")
    key = info.value.idempotency_key
    assert key, "the key smsgate minted must be on the error"
    assert info.value.may_have_sent is True
    assert len(ledger(sandbox, key)) == 1  # it did go out before the reply was lost
    again = gist.send(GHANA, "Hello once", idempotency_key=key)
    assert again.ok and again.idempotency_key == key
    assert len(ledger(sandbox, key)) == 1  # the repeat made no second ledger entry


def test_the_callers_own_key_is_carried_as_given(sandbox: Sandbox) -> None:
    gist = sandbox.provider("smsgist", sender="Demo")
    sandbox.fault("smsgist", "process_then_reset", times=1)
    with pytest.raises(DeliveryUnknown) as info:
        gist.send(GHANA, "Mine", idempotency_key="order-1234-sms")
    assert info.value.idempotency_key == "order-1234-sms"
    gist.send(GHANA, "Mine", idempotency_key="order-1234-sms")
    assert len(ledger(sandbox, "order-1234-sms")) == 1


def test_a_refusal_carries_no_key(sandbox: Sandbox) -> None:
    """A provider that deduplicates replays its stored refusal: the fix needs a new key."""
    wrong = sandbox.provider("smsgist", sender="Demo", token="wrong-token")
    with pytest.raises(AuthenticationError) as info:
        wrong.send(GHANA, "Hi")
    assert info.value.may_have_sent is False and info.value.idempotency_key is None


def test_a_provider_without_keys_leaves_it_none(sandbox: Sandbox) -> None:
    gosms = sandbox.provider("gosms.ge", sender="Demo")
    sandbox.fault("gosms.ge", "process_then_reset", times=1)
    with pytest.raises(DeliveryUnknown) as info:
        gosms.send("+995555123456", "Hi")
    assert info.value.may_have_sent is True and info.value.idempotency_key is None


def test_the_gateways_minted_key_is_on_its_error(sandbox: Sandbox) -> None:
    gist = sandbox.provider("smsgist", sender="Demo")
    gateway = Gateway([gist], retry=None)
    sandbox.fault("smsgist", "process_then_reset", times=1)
    with pytest.raises(DeliveryUnknown) as info:
        gateway.send(GHANA, "Through the gateway")
    key = info.value.idempotency_key
    assert key
    assert gateway.send(GHANA, "Through the gateway", idempotency_key=key).ok
    assert len(ledger(sandbox, key)) == 1


def test_the_gateway_puts_the_key_on_a_custom_providers_error() -> None:
    memory = MemoryProvider(region="GE")
    memory.script(DeliveryUnknown("lost", provider="memory"))
    with pytest.raises(DeliveryUnknown) as info:
        Gateway([memory], retry=None).send("+995555123456", "Hi")
    assert info.value.idempotency_key == memory.calls[0].idempotency_key
    assert info.value.idempotency_key is not None


def test_all_providers_failed_carries_the_key_they_shared() -> None:
    first, second = MemoryProvider(region="GE"), MemoryProvider(region="GE")
    first.script(DeliveryUnknown("lost", provider="a"))
    second.script(DeliveryUnknown("lost", provider="b"))
    gateway = Gateway([first, second], retry=RetryPolicy(attempts=1),
                      failover_on_unknown=True)
    with pytest.raises(AllProvidersFailed) as info:
        gateway.send("+995555123456", "Hi", idempotency_key="shared-key")
    assert info.value.idempotency_key == "shared-key"
    assert [getattr(e, "idempotency_key", None) for e in info.value.errors] == \
        ["shared-key", "shared-key"]
    restored = pickle.loads(pickle.dumps(info.value))
    assert restored.idempotency_key == "shared-key"
    assert "idempotency_key='shared-key'" in repr(info.value)


def test_all_providers_failed_names_no_key_when_they_differ() -> None:
    errors = [DeliveryUnknown("a", idempotency_key="k1"), DeliveryUnknown("b",
                                                                           idempotency_key="k2")]
    assert AllProvidersFailed("none", errors).idempotency_key is None
    refused = [ProviderError("no", idempotency_key=None)]
    assert AllProvidersFailed("none", refused).idempotency_key is None


def test_route_groups_get_a_key_each() -> None:
    """Two groups under one key would have the second answered with the first's reply."""
    home, abroad = MemoryProvider(region="GE"), MemoryProvider()
    gateway = Gateway([home], routes={"GH": [abroad]}, region="GE")
    gateway.send(["+995555123456", GHANA], "Hi", idempotency_key="K")
    assert [c.idempotency_key for c in home.calls] == ["K-0"]
    assert [c.idempotency_key for c in abroad.calls] == ["K-1"]
    home.clear()
    gateway.send("+995555123456", "Hi", idempotency_key="K")  # one group: the key as given
    assert [c.idempotency_key for c in home.calls] == ["K"]


# -- the command line ------------------------------------------------------------------------
def test_cli_error_names_the_key_and_repeating_with_it_sends_once(sandbox: Sandbox) -> None:
    runner = CliRunner()
    url = sandbox.provider_url("smsgist", sender="Demo")
    sandbox.fault("smsgist", "process_then_reset", times=1)
    lost = runner.invoke(cli, ["--url", url, "send", "--to", GHANA, "Repeat me"])
    assert lost.exit_code == 1
    assert "DeliveryUnknown" in lost.stderr and "may have been sent: yes" in lost.stderr
    marker = "repeat with --idempotency-key "
    assert marker in lost.stderr
    key = lost.stderr.split(marker, 1)[1].split()[0]
    assert len(ledger(sandbox, key)) == 1
    again = runner.invoke(cli, ["--url", url, "send", "--to", GHANA, "--idempotency-key", key,
                                "Repeat me"])
    assert again.exit_code == 0, again.output
    assert len(ledger(sandbox, key)) == 1


def test_cli_json_error_has_the_key(sandbox: Sandbox) -> None:
    runner = CliRunner()
    url = sandbox.provider_url("smsgist", sender="Demo")
    sandbox.fault("smsgist", "process_then_reset", times=1)
    lost = runner.invoke(cli, ["--url", url, "send", "--to", GHANA, "--idempotency-key",
                               "cli-json-key", "--json", "Hi"])
    data = json.loads(lost.stdout)
    assert data["error"] == "DeliveryUnknown" and data["idempotency_key"] == "cli-json-key"
    refused = runner.invoke(cli, ["--url", url.replace("sandbox-token", "wrong"), "send", "--to",
                                  GHANA, "--json", "Hi"])
    assert json.loads(refused.stdout)["idempotency_key"] is None
    assert "idempotency" not in runner.invoke(
        cli, ["--url", url.replace("sandbox-token", "wrong"), "send", "--to", GHANA, "Hi"]
    ).stderr


def test_cli_bulk_send_with_a_lost_batch_says_which_key_repeats_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = tmp_path / "gh.txt"
    numbers.write_text("".join(f"+23324{i:07d}\n" for i in range(1, 251)))

    def flaky_second_batch(self: Settings) -> Any:
        gist = sandbox.provider("smsgist", sender="Demo")
        real = gist.send
        calls: list[str | None] = []

        def send(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs.get("idempotency_key"))
            if len(calls) == 2:
                sandbox.fault("smsgist", "process_then_reset", times=1)
            return real(*args, **kwargs)

        gist.send = send
        return gist

    monkeypatch.setattr(Settings, "provider", flaky_second_batch)
    runner = CliRunner()
    first = runner.invoke(cli, ["send", "--to-file", str(numbers), "Bulk"])
    assert first.exit_code == 1
    out = " ".join(first.stdout.split())
    assert "unknown 100" in out and "not attempted 50" in out
    marker = "repeat the same command with --idempotency-key "
    assert marker in out
    key = out.split(marker, 1)[1].split(":")[0]
    assert len(ledger(sandbox, key)) == 200  # batches 1 and 2 went out; 2's reply was lost
    monkeypatch.setattr(Settings, "provider",
                        lambda self: sandbox.provider("smsgist", sender="Demo"))
    again = runner.invoke(cli, ["send", "--to-file", str(numbers), "--idempotency-key", key,
                                "Bulk"])
    assert again.exit_code == 0, again.output
    sent = ledger(sandbox, key)
    assert len(sent) == 250 and len({m.recipient for m in sent}) == 250  # each number once
