"""The protocol check: every ``send`` signature, the capability names and the command line's
``send`` options are the one vocabulary of :mod:`smsgate._options`, and nothing else."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from smsgate import Gateway, SmsProvider
from smsgate._cli import cli
from smsgate._cli import send as send_command
from smsgate._options import OPTION_CAPABILITIES, SEND_OPTION_TABLE, SEND_OPTIONS
from smsgate._protocol import CAPABILITIES
from smsgate._provider import ProviderBase
from smsgate.testing import MemoryProvider

#: smsgate's own switch, not an option a provider expresses.
OWN = {"allow_duplicates"}


def _keywords(function: Callable[..., Any]) -> set[str]:
    return {name for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("function", [SmsProvider.send, Gateway.send, ProviderBase.prepare,
                                      ProviderBase.send],
                         ids=["SmsProvider.send", "Gateway.send", "ProviderBase.prepare",
                              "ProviderBase.send"])
def test_send_signatures_are_exactly_the_vocabulary(function: Callable[..., Any]) -> None:
    assert _keywords(function) == SEND_OPTIONS | OWN


@pytest.mark.parametrize("function", [SmsProvider.send, Gateway.send, ProviderBase.prepare])
def test_each_default_is_the_vocabularys(function: Callable[..., Any]) -> None:
    parameters = inspect.signature(function).parameters
    for option in SEND_OPTION_TABLE:
        assert parameters[option.name].default is option.default, option.name


def test_every_option_capability_is_a_known_capability() -> None:
    for option in SEND_OPTION_TABLE:
        assert option.capability is None or option.capability in CAPABILITIES, option.name
    assert set(OPTION_CAPABILITIES.values()) <= CAPABILITIES


def test_the_cli_send_options_are_the_vocabularys_with_its_help() -> None:
    offered = {p.name: p for p in send_command.params}
    for option in SEND_OPTION_TABLE:
        if not option.cli:
            assert option.name not in offered
            continue
        param = offered[option.name]
        assert param.opts == ["--" + option.name.replace("_", "-")]
        assert getattr(param, "help", None) == option.help
    own = {"text", "to", "to_file", "skip_invalid", "allow_duplicates", "full", "as_json",
           "dry_run", "prices_file"}  # the last two: send --dry-run (issue 19)
    assert set(offered) == own | {o.name for o in SEND_OPTION_TABLE if o.cli}


def test_cli_flags_reach_send_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flag arrives at ``send`` under its vocabulary name, in the type ``send`` takes."""
    seen: dict[str, Any] = {}
    real = MemoryProvider.send

    def recording(self: MemoryProvider, to: Any, text: str, **options: Any) -> Any:
        seen.update(options)
        return real(self, to, text, **{k: v for k, v in options.items()
                                       if k in ("sender", "idempotency_key")})

    monkeypatch.setattr(MemoryProvider, "send", recording)
    result = CliRunner().invoke(cli, [
        "--url", "memory://@?region=GE", "send", "hi", "--to", "+995555123456",
        "--urgent", "--flash", "--priority", "--schedule-at", "2099-01-02T09:00+04:00",
        "--validity", "90", "--reference", "r-1", "--idempotency-key", "k-1",
        "--sender", "Brand",
    ])
    assert result.exit_code == 0, result.output
    assert seen == {
        "sender": "Brand", "urgent": True, "flash": True, "priority": True,
        "schedule_at": dt.datetime(2099, 1, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=4))),
        "validity": dt.timedelta(minutes=90), "reference": "r-1", "idempotency_key": "k-1",
    }


def test_cli_schedule_at_in_the_past_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["--url", "memory://@?region=GE", "send", "hi", "--to",
                                      "+995555123456", "--schedule-at", "2001-01-01T00:00Z"])
    assert result.exit_code == 2
    assert "leave --schedule-at out" in result.output
