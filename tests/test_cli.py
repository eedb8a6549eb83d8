"""The smsgate command, through click's runner (and once as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from smsgate._cli import cli
from smsgate.sandbox import Sandbox

MEMORY = "memory://@?region=GE&sender=Brand"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(delivery_delay=0.1) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMSGATE_URL", raising=False)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def sandbox_url(sandbox: Sandbox, name: str) -> str:
    return sandbox.provider_url(name, sender="Demo")


def test_send_one_prints_a_table(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to", "555 12 34 56", "Hello"])
    assert result.exit_code == 0, result.output
    assert "+995555123456" in result.stdout
    assert "queued" in result.stdout
    assert "1/1 accepted" in result.stdout


def test_send_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to", "+995555123456",
                                 "--to", "+995577123456", "--urgent", "--json", "Hi"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert [r["phone"] for r in data["recipients"]] == ["+995555123456", "+995577123456"]
    assert data["provider"] == "memory"


def test_send_500_numbers_from_a_file_shows_progress(runner: CliRunner, tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("phone,name\n" + "".join(f"+99555{i:07d},n{i}\n" for i in range(500)))
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to-file", str(numbers), "Hi"])
    assert result.exit_code == 0, result.output
    assert "500/500" in result.stderr  # the progress bar's final state
    assert "500/500 accepted" in result.stdout


def test_validation_error_exits_2_without_traceback(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to", "+99555512345", "Hi"])
    assert result.exit_code == 2
    assert "not a valid phone number" in result.stderr
    assert "Traceback" not in result.output
    empty = runner.invoke(cli, ["--url", MEMORY, "send", "Hi"])
    assert empty.exit_code == 2


def test_provider_error_exits_1_and_says_if_it_may_have_been_sent(runner: CliRunner) -> None:
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.gosms.ge/api/sendsms", status=401,
                  json={"errorCode": 100, "message": "Invalid API key"})
        result = runner.invoke(cli, ["--url", "gosms.ge://secret-key-xyz@?sender=B", "send",
                                     "--to", "+995555123456", "Hi"])
    assert result.exit_code == 1
    assert "AuthenticationError" in result.stderr
    assert "may have been sent: no" in result.stderr
    assert "secret-key-xyz" not in result.output
    assert "Traceback" not in result.output


def test_unknown_outcome_says_it_may_have_been_sent(runner: CliRunner,
                                                    sandbox: Sandbox) -> None:
    sandbox.fault("gosms.ge", "process_then_reset", times=1)
    result = runner.invoke(cli, ["--url", sandbox_url(sandbox, "gosms.ge"), "send", "--to",
                                 "+995555123456", "--json", "Hi"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"] == "DeliveryUnknown" and data["may_have_sent"] is True


def test_partial_refusal_exits_1(runner: CliRunner, sandbox: Sandbox) -> None:
    result = runner.invoke(cli, ["--url", sandbox_url(sandbox, "gosms.ge"), "send", "--to",
                                 "+995555123456", "--to", "+995555120000", "Hi"])
    assert result.exit_code == 1
    assert "Blacklisted" in result.stdout


def test_status_and_balance(runner: CliRunner, sandbox: Sandbox) -> None:
    url = sandbox_url(sandbox, "smsoffice.ge")
    sent = runner.invoke(cli, ["--url", url, "send", "--to", "+995577123456", "--reference",
                               "cli-ref-1", "--json", "Hi"])
    assert sent.exit_code == 0, sent.output
    status = runner.invoke(cli, ["--url", url, "status", "cli-ref-1", "--recipient",
                                 "+995577123456", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] in ("queued", "delivered")
    balance = runner.invoke(cli, ["--url", url, "balance"])
    assert balance.exit_code == 0
    assert "messages" in balance.stdout
    missing = runner.invoke(cli, ["--url", url, "status", "cli-ref-1"])
    assert missing.exit_code == 2  # SMSOffice needs the recipient


def test_providers_table(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["providers"])
    assert result.exit_code == 0
    for name in ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist", "memory"):
        assert name in result.stdout
    data = json.loads(runner.invoke(cli, ["providers", "--json"]).stdout)
    assert "otp" in next(p for p in data if p["name"] == "gosms.ge")["capabilities"]


def test_segments(runner: CliRunner) -> None:
    plain = runner.invoke(cli, ["segments", "Hello"])
    assert "GSM-7" in plain.stdout and "forced" not in plain.stdout
    unicode = runner.invoke(cli, ["segments", "Zoë ✓"])
    assert "UCS-2" in unicode.stdout
    assert "forced UCS-2 by: 'ë' '✓'" in unicode.stdout
    data = json.loads(runner.invoke(cli, ["segments", "--json", "a" * 161]).stdout)
    assert (data["segments"], data["remaining"]) == (2, 145)


def test_configuration_order(runner: CliRunner, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    none = runner.invoke(cli, ["balance"])
    assert none.exit_code == 2 and "no provider configured" in none.stderr
    (tmp_path / "smsgate.toml").write_text('provider = "memory"\nbalance = 7\n')
    assert "7 credits" in runner.invoke(cli, ["balance"]).stdout  # ./smsgate.toml
    monkeypatch.setenv("SMSGATE_URL", "memory://@?balance=8")
    assert "8 credits" in runner.invoke(cli, ["balance"]).stdout  # env URL beats the file
    other = tmp_path / "other.toml"
    other.write_text('provider = "memory"\nbalance = 9\n')
    monkeypatch.setenv("SMSGATE_CONFIG", str(other))
    assert "9 credits" in runner.invoke(cli, ["balance"]).stdout  # env config beats env URL
    assert "10 credits" in runner.invoke(
        cli, ["--url", "memory://@?balance=10", "balance"]).stdout  # --url beats env
    assert "7 credits" in runner.invoke(
        cli, ["--config", "smsgate.toml", "--url", "memory://@?balance=10", "balance"]).stdout


def test_bad_schedule_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to", "+995555123456",
                                 "--schedule-at", "2030-01-01T09:00", "Hi"])
    assert result.exit_code == 2
    assert "time zone" in result.output


def test_sandbox_command_prints_urls(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sandbox", "--serve-for", "0.1"])
    assert result.exit_code == 0, result.output
    for name in ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist"):
        assert name in result.stdout
    assert "SMSGATE_URL='smsgist://sandbox-client:sandbox-token@127.0.0.1:" in result.stdout


def test_demo_runs_all_four_providers(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    for name in ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist", "failover"):
        assert name in result.stdout
    assert "FAILED" not in result.stdout


def test_verbose_logs_are_redacted(runner: CliRunner, sandbox: Sandbox) -> None:
    url = sandbox_url(sandbox, "smsoffice.ge")
    result = runner.invoke(cli, ["--verbose", "--url", url, "balance"])
    assert result.exit_code == 0
    assert "getBalance" in result.stderr
    assert sandbox.credentials("smsoffice.ge")["api_key"] not in result.output


def test_missing_cli_extra_prints_the_install_command() -> None:
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'click' else real(n, *a)\n"
        "from smsgate.cli import main\n"
        "main([])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "pip install 'smsgate[cli]'" in done.stderr


def test_console_script_is_installed() -> None:
    done = subprocess.run([sys.executable, "-m", "smsgate.cli", "--version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "smsgate" in done.stdout
