"""The smsgate command, through click's runner (and once as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner, Result

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


# -- the first hour: bulk output, file input, routes, wording ---------------------------------


def _numbers_file(path: Path, count: int, *, prefix: str = "+99555", start: int = 0) -> Path:
    path.write_text("name,phone\n" + "".join(f"n{i},{prefix}{i:07d}\n"
                                             for i in range(start, start + count)))
    return path


def test_bulk_send_prints_a_short_summary(runner: CliRunner, sandbox: Sandbox,
                                          tmp_path: Path) -> None:
    """2,000 numbers (one stop-listed) print a summary of a few lines, then the failed row."""
    numbers = _numbers_file(tmp_path / "numbers.csv", 2000)
    result = runner.invoke(cli, ["--url", sandbox_url(sandbox, "gosms.ge"), "send",
                                 "--to-file", str(numbers), "Hi"])
    assert result.exit_code == 1, result.output  # +995550000000 is stop-listed in the sandbox
    lines = result.stdout.splitlines()
    assert len(lines) <= 30, result.stdout
    assert "1999/2000 accepted" in result.stdout
    assert "refused 1 (Blacklisted x1)" in result.stdout
    assert "20 batch(es)" in result.stdout
    assert "+995550000000" in result.stdout and "+995550000001" not in result.stdout
    full = runner.invoke(cli, ["--url", sandbox_url(sandbox, "gosms.ge"), "send",
                               "--to-file", str(numbers), "--full", "Hi"])
    assert "+995550000001" in full.stdout and "+995550001999" in full.stdout


def test_bulk_cost_is_the_total_of_every_batch(runner: CliRunner, sandbox: Sandbox,
                                               tmp_path: Path) -> None:
    """300 SMSGist numbers at 0.03 GHS each: 9.00 GHS in the summary, as in --json."""
    numbers = _numbers_file(tmp_path / "gh.csv", 300, prefix="+23324", start=1)
    url = sandbox_url(sandbox, "smsgist")
    text = runner.invoke(cli, ["--url", url, "send", "--to-file", str(numbers), "Hi"])
    data = json.loads(runner.invoke(cli, ["--url", url, "send", "--to-file", str(numbers),
                                          "--json", "Hi"]).stdout)
    assert text.exit_code == 0, text.output
    assert data["batches"] == 3 and data["costs"] == {"GHS": data["cost"]}
    assert float(data["cost"]) == pytest.approx(9.0)
    assert f"cost {data['cost']} GHS" in text.stdout


def test_every_bad_entry_is_listed_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    numbers = tmp_path / "list.csv"
    numbers.write_text("phone,name\n+995555123456,a\n+99555512,b\nhello,c\n\n# comment\n"
                       "555 12 34 57,d\n,e\n")
    result = runner.invoke(cli, ["--url", MEMORY, "send", "--to-file", str(numbers), "Hi"])
    assert result.exit_code == 2
    assert "3 invalid recipient(s)" in result.stderr
    for line in ("list.csv:3: '+99555512'", "list.csv:4: 'hello'", "list.csv:8: ''"):
        assert line in result.stderr  # the user's own entry, not masked
    skipped = runner.invoke(cli, ["--url", MEMORY, "send", "--to-file", str(numbers),
                                  "--skip-invalid", "--json", "Hi"])
    assert skipped.exit_code == 0, skipped.output
    data = json.loads(skipped.stdout)
    assert [r["phone"] for r in data["recipients"]] == ["+995555123456", "+995555123457"]
    assert len(data["invalid"]) == 3


def test_csv_number_column_is_found_by_name_or_is_the_first(runner: CliRunner,
                                                            tmp_path: Path) -> None:
    named = tmp_path / "named.csv"
    named.write_text("name,Mobile,city\nAna,+995555123456,Tbilisi\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("+995555123457\n555123458\n")
    for path, expected in ((named, ["+995555123456"]), (plain, ["+995555123457",
                                                                 "+995555123458"])):
        result = runner.invoke(cli, ["--url", MEMORY, "send", "--to-file", str(path),
                                     "--json", "Hi"])
        assert result.exit_code == 0, result.output
        assert [r["phone"] for r in json.loads(result.stdout)["recipients"]] == expected


def test_repeated_numbers_are_sent_once_unless_allowed(runner: CliRunner) -> None:
    args = ["--url", MEMORY, "send", "--to", "+995555123456", "--to", "555 12 34 56",
            "--to", "00995555123456"]
    once = runner.invoke(cli, [*args, "Hi"])
    assert once.exit_code == 0, once.output
    assert "dropped 2 repeated number(s)" in once.stderr and "1/1 accepted" in once.stdout
    every = runner.invoke(cli, [*args, "--allow-duplicates", "Hi"])
    assert "3/3 accepted" in every.stdout


def test_progress_bar_finishes_when_the_last_batch_fails(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsgate import ConnectError
    from smsgate._cli import Settings
    from smsgate.testing import MemoryProvider

    memory = MemoryProvider(region="GE")
    memory.script(None, ConnectError)
    monkeypatch.setattr(Settings, "provider", lambda self: memory)
    numbers = _numbers_file(tmp_path / "n.csv", 150)
    result = runner.invoke(cli, ["send", "--to-file", str(numbers), "Hi"])
    assert result.exit_code == 1
    assert "150/150" in result.stderr  # the bar's final state, not 100/150
    assert "100/150 accepted" in result.stdout
    assert "refused 50" in result.stdout


def _send_through_a_gateway_with_gosms_down(
    runner: CliRunner, sandbox: Sandbox, tmp_path: Path, backup_url: str, retry: str
) -> tuple[Result, dict[str, object]]:
    """A gateway of the sandbox's gosms.ge (refusing connections) and ``backup_url``: the
    result of one plain send and the data of one --json send."""
    config = tmp_path / "gw.toml"
    config.write_text(
        "[providers.primary]\n"
        f'url = "{sandbox_url(sandbox, "gosms.ge")}"\n'
        "[providers.backup]\n"
        f'url = "{backup_url}"\n'
        f'[gateway]\norder = ["primary", "backup"]\nretry = {retry}\n'
    )
    args = ["--config", str(config), "send", "--to", "+995555123456"]
    sandbox.fault("gosms.ge", "refuse")
    try:
        result = runner.invoke(cli, [*args, "Hi"])
        data = json.loads(runner.invoke(cli, [*args, "--json", "Hi"]).stdout)
    finally:
        sandbox.clear_faults("gosms.ge")
    return result, data


def test_gateway_send_shows_the_route(runner: CliRunner, sandbox: Sandbox,
                                      tmp_path: Path) -> None:
    result, data = _send_through_a_gateway_with_gosms_down(
        runner, sandbox, tmp_path, sandbox_url(sandbox, "smsoffice.ge"),
        "{ attempts = 2, backoff = 0 }")
    assert result.exit_code == 0, result.output
    assert "route: gosms.ge: ConnectError x2 → smsoffice.ge: accepted" in result.stdout
    assert data["routes"] == ["gosms.ge: ConnectError x2 → smsoffice.ge: accepted"]
    assert [a["error"] for a in data["attempts"]][:2] == ["ConnectError", "ConnectError"]


def test_all_providers_failed_names_each_provider(runner: CliRunner, sandbox: Sandbox,
                                                  tmp_path: Path) -> None:
    key = sandbox.credentials("smsoffice.ge")["api_key"]
    wrong_key = sandbox_url(sandbox, "smsoffice.ge").replace(f"://{key}@", "://wrong-key@")
    result, data = _send_through_a_gateway_with_gosms_down(
        runner, sandbox, tmp_path, wrong_key, "{ attempts = 1 }")
    assert result.exit_code == 1
    assert "ConnectError (gosms.ge)" in result.stderr
    assert "AuthenticationError (smsoffice.ge, code 80)" in result.stderr
    assert "(may have been sent: no)" in result.stderr
    assert [e["error"] for e in data["errors"]] == ["ConnectError", "AuthenticationError"]
    assert data["errors"][1]["provider"] == "smsoffice.ge"


def test_messages_speak_cli(runner: CliRunner) -> None:
    """No doubled provider name; read-only calls never say 'may have been sent'; a global
    option after the command is explained; a past schedule is refused."""
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.gosms.ge/api/sms-balance", status=401,
                  json={"errorCode": 100, "message": "Invalid API key"})
        balance = runner.invoke(cli, ["--url", "gosms.ge://k@?sender=B", "balance"])
    assert balance.exit_code == 1
    assert "may have been sent" not in balance.stderr
    assert "gosms.ge: gosms.ge" not in balance.stderr
    late = runner.invoke(cli, ["send", "--url", MEMORY, "--to", "+995555123456", "Hi"])
    assert late.exit_code == 2
    assert "--url is a global option: put it before the command" in late.stderr
    past = runner.invoke(cli, ["--url", MEMORY, "send", "--to", "+995555123456",
                               "--schedule-at", "2001-01-01T09:00:00Z", "Hi"])
    assert past.exit_code == 2 and "in the past" in past.output


def test_rate_limited_says_when_to_retry(runner: CliRunner) -> None:
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.gosms.ge/api/sendsms", status=429, headers={"Retry-After": "120"},
                  json={"errorCode": 109, "message": "Too many requests"})
        result = runner.invoke(cli, ["--url", "gosms.ge://k@?sender=B", "send", "--to",
                                     "+995555123456", "Hi"])
    assert result.exit_code == 1
    assert "retry in 120 s" in result.stderr


def test_missing_sender_is_explained_in_cli_terms(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", "gosms.ge://k@", "send", "--to", "+995555123456",
                                 "Hi"])
    assert result.exit_code == 2
    assert "--sender NAME" in result.stderr and "?sender=NAME" in result.stderr
