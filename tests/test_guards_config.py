"""The send policy and prices in a configuration file (issue 19): ``[policy]`` and
``[prices]`` tables, read by ``from_config`` and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import smsgate
from smsgate._cli import cli

from .guards_helpers import GOOD, GOOD_2

POLICY = """
[policy]
allow_countries = ["GE"]
per_number = "1/hour"

[prices.memory]
GE = "0.02 EUR"
"""


def test_a_gateway_file_with_a_policy_and_prices(tmp_path: Path) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text('[providers.a]\nprovider = "memory"\n' + POLICY)
    gateway = smsgate.from_config(path)
    assert isinstance(gateway, smsgate.Gateway)
    assert isinstance(gateway.policy, smsgate.SendPolicy)
    assert gateway.send(GOOD, "hi").ok
    with pytest.raises(smsgate.PolicyViolation):
        gateway.send(GOOD, "again")  # 1 an hour
    with pytest.raises(smsgate.PolicyViolation):
        gateway.send(GOOD_2, "hi")  # not GE
    assert smsgate.estimate(gateway, GOOD, "hi").cost == smsgate.Price.parse("0.02 EUR").amount


def test_a_single_provider_file_with_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text('provider = "memory"\n' + POLICY)
    provider = smsgate.from_config(path)
    assert provider.send(GOOD, "hi").ok
    with pytest.raises(smsgate.PolicyViolation):
        provider.send(GOOD_2, "hi")
    done = CliRunner().invoke(cli, ["--config", str(path), "send", "hi", "--to", GOOD_2,
                                    "--to", "+995555123457", "--dry-run", "--json"])
    data = json.loads(done.output)
    assert (done.exit_code, data["would_send"], data["costs"]) == (1, 1, {"EUR": "0.02"})


def test_a_bad_policy_table_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text('provider = "memory"\n[policy]\nper_numbr = "1/hour"\n')
    with pytest.raises(smsgate.ConfigurationError, match="policy: unknown key"):
        smsgate.from_config(path)
    path.write_text('policies = 1\n[providers.a]\nprovider = "memory"\n')
    with pytest.raises(smsgate.ConfigurationError, match=r"did you mean .*'policy'"):
        smsgate.from_config(path)
