"""``smsgate send --dry-run`` and ``smsgate estimate`` (issue 19): validate, apply the policy
and price a send without sending anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from smsgate._cli import cli
from smsgate.sandbox import Sandbox

PREMIUM = "+449012345678"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=60) as running:
        yield running


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text('[prices."gosms.ro"]\nRO = "0.03 EUR"\n"*" = "0.09 EUR"\n')
    return path


def test_dry_run_sends_nothing_and_reports_the_policy_and_the_cost(
    sandbox: Sandbox, prices: Path,
) -> None:
    url = sandbox.provider_url("gosms.ro")
    before = len(sandbox.messages("gosms.ro"))
    done = CliRunner().invoke(cli, [
        "--url", url, "send", "Programarea dvs. este mâine " * 7, "--to", "+40722123456",
        "--to", PREMIUM, "--to", "+995555123456", "--dry-run", "--prices", str(prices),
        "--json"])
    assert done.exit_code == 1, done.output  # a recipient would be refused
    data = json.loads(done.output)
    assert (data["would_send"], data["refused"]) == (2, 1)
    assert data["costs"] == {"EUR": "0.24"}  # 189 ISO-8859-1 characters: 2 parts each
    rows = {row["phone"]: row for row in data["recipients"]}
    assert rows[PREMIUM]["reason"] == "number-type" and not rows[PREMIUM]["would_send"]
    assert rows["+40722123456"]["cost"] == "0.06"
    assert len(sandbox.messages("gosms.ro")) == before
    clean = CliRunner().invoke(cli, ["--url", url, "send", "hi", "--to", "+40722123456",
                                     "--dry-run"])
    assert clean.exit_code == 0, clean.output
    assert "1 would be sent, 0 refused · nothing was sent" in clean.output
    assert len(sandbox.messages("gosms.ro")) == before


def test_dry_run_refuses_what_the_send_would_refuse(sandbox: Sandbox) -> None:
    done = CliRunner().invoke(cli, ["--url", sandbox.provider_url("gosms.ro"), "send",
                                    "x" * 39_016, "--to", "+40722123456", "--dry-run"])
    assert done.exit_code == 2 and "39015" in done.output


def test_estimate_prices_each_recipient(sandbox: Sandbox, prices: Path) -> None:
    done = CliRunner().invoke(cli, [
        "--url", sandbox.provider_url("gosms.ro"), "estimate", "Cod: 1234 {ok}",
        "--to", "+40722123456", "--to", "+995555123456", "--prices", str(prices), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["costs"] == {"EUR": "0.12"}
    assert [r["encoding"] for r in data["recipients"]] == ["UCS-2", "UCS-2"]  # braces
    table = CliRunner().invoke(cli, ["--url", sandbox.provider_url("gosms.ro"), "estimate",
                                     "hi", "--to", "+40722123456", "--prices", str(prices)])
    assert "total 0.03 EUR · 1 segment(s)" in table.output
    missing = CliRunner().invoke(cli, ["--url", sandbox.provider_url("gosms.ro"), "estimate",
                                       "hi", "--to", "+40722123456"])
    assert missing.exit_code == 2 and "--prices" in missing.output
