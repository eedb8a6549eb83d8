"""Fixed ports with ``port=P`` (a .env keeps working across restarts) and settable balances."""

from __future__ import annotations

import contextlib
import random
import socket
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from click.testing import CliRunner

import smsgate
from smsgate._cli import cli
from smsgate.sandbox import DEFAULT_BALANCE, PORT_ORDER, UNITS, Sandbox
from smsgate.sandbox._providers import EMULATED

#: A number each emulated provider delivers to (its emulator's declaration).
NUMBERS = {name: emulated.number for name, emulated in EMULATED.items()}


def _free_block(size: int = len(PORT_ORDER) + 1) -> int:
    """A port P with P..P+size-1 all free right now (bound and released to check)."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise AssertionError("no block of free ports")


def _port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.2) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.reset_balance()


# -- ports ---------------------------------------------------------------------------------
def test_fixed_ports_follow_the_documented_order_and_survive_a_restart() -> None:
    base = _free_block()
    with Sandbox(port=base) as first:
        assert _port(first.url) == base
        assert [_port(first.base_url(name)) for name in PORT_ORDER] == [
            base + offset for offset in range(1, len(PORT_ORDER) + 1)]
        # The documented ports never move: a new provider's port comes after these.
        assert PORT_ORDER[:4] == ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist")
        saved = {name: first.provider_url(name, sender="Demo") for name in PORT_ORDER}
    # A new sandbox (a restart): the URLs a .env holds reach it unchanged.
    with Sandbox(port=base) as second:
        for name, url in saved.items():
            assert smsgate.from_url(url).send(NUMBERS[name], "after a restart").ok
        assert len(second.messages()) == len(PORT_ORDER)


def test_port_zero_keeps_free_ports() -> None:
    with Sandbox() as one, Sandbox() as two:
        ports = {_port(s.base_url(n)) for s in (one, two) for n in PORT_ORDER}
        # nobody collides, no fixed block needed
        assert len(ports) == 2 * len(PORT_ORDER) == 2 * len(EMULATED)
        assert smsgate.from_url(two.provider_url("gosms.ge", sender="Demo")).send(
            NUMBERS["gosms.ge"], "free ports").ok


def test_a_taken_port_is_a_configuration_error_and_nothing_is_left_listening() -> None:
    base = _free_block()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 2))
        squatter.listen()
        sandbox = Sandbox(port=base)
        with pytest.raises(smsgate.ConfigurationError) as info:
            sandbox.start()
    message = str(info.value)
    assert f"port {base + 2} (smsoffice.ge) is in use" in message
    assert f"{base}-{base + len(PORT_ORDER)}" in message
    # The inbox and gosms.ge ports it had already opened are closed again.
    for port in (base, base + 1):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize("port", [-1, 65532, 65535])
def test_a_port_without_room_for_the_providers_is_refused(port: int) -> None:
    with pytest.raises(smsgate.ConfigurationError, match="the providers take"):
        Sandbox(port=port)


def test_cli_port_prints_the_fixed_urls_and_a_taken_port_exits_2() -> None:
    runner = CliRunner()
    base = _free_block()
    result = runner.invoke(cli, ["sandbox", "--port", str(base), "--serve-for", "0.1"])
    assert result.exit_code == 0, result.output
    assert f"inbox:  http://127.0.0.1:{base}/" in result.stdout
    assert f"SMSGATE_URL='smsgist://sandbox-client:sandbox-token@127.0.0.1:{base + 4}" in (
        result.stdout)
    assert f"gosms.ge://sandbox-gosms-ge-key@127.0.0.1:{base + 1}/api" in result.stdout
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        taken = runner.invoke(cli, ["sandbox", "--port", str(base), "--serve-for", "0.1"])
    assert taken.exit_code == 2
    assert f"port {base + 3} (gosms.ro) is in use" in taken.output
    assert "Traceback" not in taken.output
    assert runner.invoke(cli, ["sandbox", "--port", "65533"]).exit_code == 2


# -- balances ------------------------------------------------------------------------------
def test_default_balances_and_units_over_http(sandbox: Sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/_sandbox/balance", timeout=5).json()
    # Every emulated provider, in the registry's order, at 10,000 of its declared unit ...
    assert {name: (row["balance"], row["unit"]) for name, row in reply.items()} == {
        name: ("10000", emulated.unit) for name, emulated in EMULATED.items()}
    assert list(reply) == list(PORT_ORDER)
    assert {name: row["unit"] for name, row in reply.items()} == UNITS
    # ... and the four documented ones in the units docs/sandbox.md names.
    assert {name: UNITS[name] for name in ("gosms.ge", "smsoffice.ge", "gosms.ro",
                                           "smsgist")} == {
        "gosms.ge": "credits", "smsoffice.ge": "messages", "gosms.ro": "EUR", "smsgist": "GHS"}
    assert reply["gosms.ro"]["text"] == "EUR 10000.00"
    assert Decimal(10_000) == DEFAULT_BALANCE


def test_post_balance_sets_one_provider(sandbox: Sandbox) -> None:
    reply = requests.post(f"{sandbox.url}/_sandbox/balance", timeout=5,
                          json={"provider": "gosms.ro", "balance": "0.05"})
    assert reply.status_code == 200
    assert reply.json()["gosms.ro"]["balance"] == "0.05"
    assert reply.json()["gosms.ge"]["balance"] == "10000"
    sms = sandbox.provider("gosms.ro", sender="Demo")
    with pytest.raises(smsgate.InsufficientFunds):
        sms.send(NUMBERS["gosms.ro"], "x" * 200)  # two parts: EUR 0.06
    assert sms.send(NUMBERS["gosms.ro"], "one part").ok  # EUR 0.03
    assert sandbox.balance("gosms.ro") == Decimal("0.02")


def test_post_balance_for_all_then_reset(sandbox: Sandbox) -> None:
    assert requests.post(f"{sandbox.url}/_sandbox/balance", timeout=5,
                         json={"balance": 0}).status_code == 200
    for name in PORT_ORDER:
        with pytest.raises(smsgate.InsufficientFunds):
            sandbox.provider(name, sender="Demo").send(NUMBERS[name], "no money")
    reset = requests.post(f"{sandbox.url}/_sandbox/balance", timeout=5, json={})
    assert {row["balance"] for row in reset.json().values()} == {"10000"}
    for name in PORT_ORDER:
        assert sandbox.provider(name, sender="Demo").send(NUMBERS[name], "money again").ok


def test_post_balance_resets_one_provider(sandbox: Sandbox) -> None:
    sandbox.set_balance(None, 3)
    reply = requests.post(f"{sandbox.url}/_sandbox/balance", timeout=5,
                          json={"provider": "smsgist"}).json()
    assert reply["smsgist"]["balance"] == "10000"
    assert reply["gosms.ge"]["balance"] == "3"


@pytest.mark.parametrize("body", [
    {"provider": "gosms.ge", "balance": 1.5},     # GOSMS.GE counts whole credits
    {"provider": "smsoffice.ge", "balance": "2.5"},
    {"balance": -1},
    {"balance": "lots"},
    {"balance": True},
    {"balance": "NaN"},
    {"provider": "nope", "balance": 1},
    {"provider": 5, "balance": 1},
    {"balanse": 1},
    [1, 2],
])
def test_post_balance_refuses_nonsense(sandbox: Sandbox, body: object) -> None:
    reply = requests.post(f"{sandbox.url}/_sandbox/balance", timeout=5, json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]
    assert sandbox.balance("gosms.ge") == DEFAULT_BALANCE  # nothing changed


def test_starting_balance_per_provider_and_reset_in_python() -> None:
    with Sandbox(balance={"smsgist": "0.03"}) as sandbox:
        assert sandbox.balance("gosms.ge") == DEFAULT_BALANCE
        sms = sandbox.provider("smsgist", sender="Demo")
        assert sms.send(NUMBERS["smsgist"], "the last cedi cents").ok
        with pytest.raises(smsgate.InsufficientFunds):
            sms.send(NUMBERS["smsgist"], "no more")
        sandbox.reset_balance("smsgist")
        assert sandbox.balance("smsgist") == Decimal("0.03")
    with pytest.raises(smsgate.ConfigurationError):
        Sandbox(balance={"nope": 1})
    with pytest.raises(smsgate.ConfigurationError, match="whole credits"):
        Sandbox(balance="0.5")


def test_cli_balance_option() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["sandbox", "--balance", "0", "--balance", "gosms.ro=5",
                                 "--serve-for", "0.05"])
    assert result.exit_code == 0, result.output
    assert "0 credits" in result.stdout and "0 messages" in result.stdout
    assert "5 EUR" in result.stdout and "0 GHS" in result.stdout
    bad = runner.invoke(cli, ["sandbox", "--balance", "gosms.ge=lots", "--serve-for", "0"])
    assert bad.exit_code == 2 and "gosms.ge balance" in bad.output
    unknown = runner.invoke(cli, ["sandbox", "--balance", "twilio=5", "--serve-for", "0"])
    assert unknown.exit_code == 2 and "twilio" in unknown.output
