"""One configuration resolution order for the CLI and ``from_env()``; errors that name their
source and suggest the key meant; ``memory://`` as the dry run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import smsgate
from smsgate import ConfigurationError
from smsgate._cli import cli

CANARY = "Src-Canary-5q4w3e"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMSGATE_URL", raising=False)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def memory_file(path: Path, balance: int) -> Path:
    path.write_text(f'provider = "memory"\nbalance = {balance}\n')
    return path


def from_cli(runner: CliRunner, *flags: str) -> str:
    """The balance the CLI reports: which source it resolved."""
    result = runner.invoke(cli, [*flags, "balance", "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["amount"])


def from_library() -> str:
    return str(smsgate.from_env().balance().amount)


# -- the order -------------------------------------------------------------------------------
# Which sources are set, and which one must win (the balance identifies it): a URL source is
# memory://@?balance=N, a file source a memory table with balance = N.
ORDER_CASES = [
    ({"toml": 5}, "5"),
    ({"toml": 5, "env_url": 4}, "4"),
    ({"toml": 5, "env_url": 4, "env_config": 3}, "3"),
    ({"env_url": 4, "env_config": 3}, "3"),
    ({"toml": 5, "env_config": 3}, "3"),
]


@pytest.mark.parametrize(("sources", "winner"), ORDER_CASES)
def test_cli_and_from_env_resolve_the_same_source(
    sources: dict[str, int], winner: str, runner: CliRunner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "toml" in sources:
        memory_file(tmp_path / "smsgate.toml", sources["toml"])
    if "env_url" in sources:
        monkeypatch.setenv("SMSGATE_URL", f"memory://@?balance={sources['env_url']}")
    if "env_config" in sources:
        path = memory_file(tmp_path / "env.toml", sources["env_config"])
        monkeypatch.setenv("SMSGATE_CONFIG", str(path))
    assert from_library() == winner
    assert from_cli(runner) == winner


def test_command_line_flags_come_first(runner: CliRunner, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    memory_file(tmp_path / "smsgate.toml", 5)
    monkeypatch.setenv("SMSGATE_URL", "memory://@?balance=4")
    monkeypatch.setenv("SMSGATE_CONFIG", str(memory_file(tmp_path / "env.toml", 3)))
    flag_file = memory_file(tmp_path / "flag.toml", 1)
    assert from_cli(runner, "--url", "memory://@?balance=2") == "2"
    assert from_cli(runner, "--config", str(flag_file)) == "1"
    assert from_cli(runner, "--config", str(flag_file), "--url", "memory://@?balance=2") == "1"
    # The same function, called with the flags, is what the command runs.
    assert smsgate.config.resolve(url="memory://@?balance=2").balance().amount == 2


def test_from_env_reads_smsgate_toml_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="no provider configured"):
        smsgate.from_env()
    memory_file(tmp_path / "smsgate.toml", 6)
    assert from_library() == "6"
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the file is looked up where the program runs
    with pytest.raises(ConfigurationError, match="no provider configured"):
        smsgate.from_env()


def test_an_explicit_environ_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_URL", "memory://@?balance=4")
    assert smsgate.from_env({"SMSGATE_URL": "memory://@?balance=8"}).balance().amount == 8
    with pytest.raises(ConfigurationError, match="no provider configured"):
        smsgate.from_env({})
    # An empty variable counts as unset.
    assert smsgate.from_env({"SMSGATE_CONFIG": "", "SMSGATE_URL": "memory://@?balance=9"}) \
        .balance().amount == 9


def test_the_first_source_wins_even_if_a_later_one_is_broken(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smsgate.toml").write_text("this is not toml =")
    monkeypatch.setenv("SMSGATE_URL", "memory://@?balance=4")
    assert from_library() == "4"
    assert from_cli(runner) == "4"


def test_nothing_configured_says_every_way(runner: CliRunner) -> None:
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_env()
    message = str(info.value)
    assert "SMSGATE_CONFIG" in message and "SMSGATE_URL" in message
    assert "./smsgate.toml" in message and "--url" not in message  # no flags in a library
    result = runner.invoke(cli, ["balance"])
    assert result.exit_code == 2
    assert "--config FILE or --url URL" in result.stderr and "smsgate demo" in result.stderr


# -- every error names its source, never the URL --------------------------------------------
def set_env_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SMSGATE_URL", url)


SOURCE_CASES: list[tuple[str, str]] = [
    ("--url", "--url: gosms.ge: the host: the port must be between 1 and 65535"),
    ("SMSGATE_URL", "SMSGATE_URL: gosms.ge: the host: the port must be between 1 and 65535"),
    ("--config", "--config bad.toml: providers.main: gosms.ge: the host: the port must be"),
    ("SMSGATE_CONFIG", "SMSGATE_CONFIG (bad.toml): providers.main: gosms.ge: the host"),
    ("smsgate.toml", "smsgate.toml: providers.main: gosms.ge: the host: the port must be"),
]


def configure(source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Put the same broken URL (port 99999, key CANARY) in ``source``; the CLI flags to use."""
    url = f"gosms.ge://{CANARY}@127.0.0.1:99999/api?insecure_http=1&sender=B"
    table = f'[providers.main]\nurl = "{url}"\n'
    if source == "--url":
        return ["--url", url]
    if source == "SMSGATE_URL":
        monkeypatch.setenv("SMSGATE_URL", url)
        return []
    name = "smsgate.toml" if source == "smsgate.toml" else "bad.toml"
    (tmp_path / name).write_text(table)
    if source == "--config":
        return ["--config", name]
    if source == "SMSGATE_CONFIG":
        monkeypatch.setenv("SMSGATE_CONFIG", name)
    return []


@pytest.mark.parametrize(("source", "expected"), SOURCE_CASES)
def test_configuration_errors_name_their_source_and_hide_the_key(
    source: str, expected: str, runner: CliRunner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags = configure(source, monkeypatch, tmp_path)
    result = runner.invoke(cli, [*flags, "send", "--to", "+995555123456", "Hi"])
    assert result.exit_code == 2, result.output  # a configuration error, not a ConnectError
    assert expected in result.stderr, result.stderr
    assert CANARY not in result.output and "ConnectError" not in result.output
    assert "Traceback" not in result.output
    as_json = runner.invoke(cli, [*flags, "balance", "--json"])
    data = json.loads(as_json.stdout)
    assert data["error"] == "ConfigurationError" and data["message"].startswith(source)
    if not flags:  # the library names the same source in the same words
        with pytest.raises(ConfigurationError) as info:
            smsgate.from_env()
        assert expected in str(info.value) and CANARY not in str(info.value)


@pytest.mark.parametrize(("content", "expected"), [
    ("provider = ", "smsgate.toml: not valid TOML"),
    ('provider = "memory"\nsendr = "x"\n', "smsgate.toml: sendr: memory takes no option"),
    ('provider = "gosms.ge"\napi_key = "${SRC_UNSET_VAR}"\n',
     "smsgate.toml: api_key: environment variable SRC_UNSET_VAR is not set"),
])
def test_file_errors_name_the_file(content: str, expected: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRC_UNSET_VAR", raising=False)
    (tmp_path / "smsgate.toml").write_bytes(content.encode())
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_env()
    assert str(info.value).startswith(expected), str(info.value)


def test_unreadable_config_paths_are_configuration_errors(runner: CliRunner,
                                                          tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "latin1.toml").write_bytes(b'provider = "memory"\nsender = "\xe9"\n')
    for path, expected in (("missing.toml", "--config missing.toml: configuration file not "
                                            "found"),
                           ("adir", "--config adir: is a directory"),
                           ("latin1.toml", "--config latin1.toml: not valid TOML")):
        result = runner.invoke(cli, ["--config", path, "balance"])
        assert result.exit_code == 2, result.output
        assert expected in result.stderr, result.stderr
        assert "Traceback" not in result.output
    # The library names the file it was given the same way.
    with pytest.raises(ConfigurationError, match=r"^missing\.toml: configuration file not found"):
        smsgate.from_config("missing.toml")


def test_a_credential_with_a_slash_gets_the_percent_encoding_hint(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in (f"gosms.ge://ab/{CANARY}@?sender=B", f"smsgist://id:{CANARY}/x@"):
        result = runner.invoke(cli, ["--url", url, "balance"])
        assert result.exit_code == 2, result.output
        assert "percent-encode it (%2F" in result.stderr
        assert CANARY not in result.output
        set_env_url(monkeypatch, url)
        from_env = runner.invoke(cli, ["balance"])
        assert from_env.exit_code == 2 and "SMSGATE_URL: " in from_env.stderr
        assert CANARY not in from_env.output


@pytest.mark.parametrize("port", ["99999", "0", "80a", ""])
def test_a_bad_port_is_a_configuration_error_through_the_cli(port: str,
                                                            runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--url", f"gosms.ge://{CANARY}@localhost:{port}?sender=B",
                                 "send", "--to", "+995555123456", "--json", "Hi"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["error"] == "ConfigurationError" and "port" in data["message"]
    assert CANARY not in result.output


# -- did you mean ----------------------------------------------------------------------------
TYPO_CASES: list[tuple[Callable[[], object], str]] = [
    (lambda: smsgate.from_url("gosms.ge://K@?sendr=B"),
     "unknown URL option 'sendr' (did you mean 'sender'?)"),
    (lambda: smsgate.from_url("gosms.ge://K@?Timeout=5"), "(did you mean 'timeout'?)"),
    (lambda: smsgate.from_url("gosms.gee://K@"),
     "unknown provider 'gosms.gee' (did you mean 'gosms.ge'"),
    (lambda: smsgate.from_url("smsgst://a:b@"), "(did you mean 'smsgist'?)"),
    (lambda: smsgate.from_config({"provider": "smsofice.ge", "api_key": "k"}),
     "(did you mean 'smsoffice.ge'?)"),
    (lambda: smsgate.from_config({"provider": "gosms.ge", "apikey": "k"}),
     "apikey: gosms.ge takes no option 'apikey' (did you mean 'api_key'?)"),
    (lambda: smsgate.from_config({"provider": "gosms.ge", "api_key": "k",
                                  "base_url": "http://127.0.0.1:1", "insecure": True}),
     "(did you mean 'insecure_http'?)"),
    (lambda: smsgate.from_config({"providrs": {"a": {"provider": "memory"}}}),
     "unknown top-level key(s): providrs (did you mean 'providers'"),
    (lambda: smsgate.from_config({"providers": {"a": {"provider": "memory"}},
                                  "gateway": {"ordr": ["a"]}}),
     "gateway.ordr: unknown key (did you mean 'order'?)"),
    (lambda: smsgate.from_config({"providers": {"a": {"provider": "memory"}},
                                  "gateway": {"retry": {"atempts": 2}}}),
     "gateway.retry.atempts: unknown key (did you mean 'attempts'?)"),
    (lambda: smsgate.from_config({"providers": {"a": {"provider": "memory"}},
                                  "gateway": {"breaker": {"reset_timout": 2}}}),
     "gateway.breaker.reset_timout: unknown key (did you mean 'reset_timeout'?)"),
    (lambda: smsgate.from_config({"providers": {"a": {"provider": "gosm.ge"}}}),
     "providers.a: unknown provider 'gosm.ge' (did you mean 'gosms.ge'"),
]


@pytest.mark.parametrize(("build", "expected"), TYPO_CASES)
def test_typos_get_did_you_mean(build: Callable[[], object], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        build()
    assert expected in str(info.value), str(info.value)


def test_no_suggestion_for_a_name_far_from_every_key() -> None:
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_url("gosms.ge://K@?colour=red")
    assert "unknown URL option 'colour'" in str(info.value)
    assert "did you mean" not in str(info.value)


def test_an_unknown_url_option_that_could_be_a_key_is_not_repeated() -> None:
    for url in (f"gosms.ge://K@?{CANARY}=1", f"gosms.ge://K@?{CANARY}",
                f"gosms.ge://K@?{CANARY}&{CANARY}"):
        with pytest.raises(ConfigurationError) as info:
            smsgate.from_url(url)
        assert CANARY not in str(info.value)


def test_typos_get_did_you_mean_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "smsgate.toml").write_text('provider = "memory"\nregoin = "GE"\n')
    result = runner.invoke(cli, ["balance"])
    assert result.exit_code == 2
    assert "smsgate.toml: regoin: memory takes no option 'regoin' (did you mean 'region'?)" \
        in result.stderr.replace("\n", " ")


# -- memory:// is the dry run ----------------------------------------------------------------
@pytest.mark.parametrize("url", ["memory://", "memory://@", "memory://?region=GE",
                                 "memory://@?region=GE"])
def test_memory_urls_need_no_at_sign(url: str) -> None:
    provider = smsgate.from_url(url)
    assert provider.name == "memory"


def test_memory_url_refuses_a_host_or_a_credential() -> None:
    with pytest.raises(ConfigurationError, match="memory takes no host"):
        smsgate.from_url("memory://localhost?region=GE")
    with pytest.raises(ConfigurationError, match="memory takes no credential"):
        smsgate.from_url(f"memory://{CANARY}@")
    # Providers with credentials still need the '@'.
    with pytest.raises(ConfigurationError, match="credentials before an '@'"):
        smsgate.from_url("gosms.ge://?sender=B")


def test_the_dry_run_validates_like_the_real_provider(runner: CliRunner) -> None:
    dry = "memory://@?like=gosms.ge&sender=MyShop"
    sent = runner.invoke(cli, ["--url", dry, "send", "--to", "555 12 34 56", "--json", "Hi"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["recipients"][0]["phone"] == "+995555123456"
    # gosms.ge reaches Georgian numbers only, and its sender is at most 11 characters.
    abroad = runner.invoke(cli, ["--url", dry, "send", "--to", "+233245972246", "Hi"])
    assert abroad.exit_code == 2 and "like gosms.ge" in abroad.stderr
    long_sender = runner.invoke(cli, ["--url", "memory://?like=gosms.ge&sender=TwelveLetters",
                                      "send", "--to", "+995555123456", "Hi"])
    assert long_sender.exit_code == 2


def test_the_source_used_is_logged_by_name_never_by_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SMSGATE_URL", f"gosms.ge://{CANARY}@?sender=B")
    with caplog.at_level("DEBUG", logger="smsgate.config"):
        smsgate.from_env()
    assert "configuration from SMSGATE_URL" in caplog.text
    assert CANARY not in caplog.text


def test_the_help_points_to_the_one_documented_order(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(cli, ["--help"]).stdout.split())
    assert "--config, --url, SMSGATE_CONFIG, SMSGATE_URL or ./smsgate.toml" in text
    assert "smsgate.from_env()" in text and "docs/configuration.md" in text
    assert "memory://@?like=gosms.ge&sender=MyShop" in text
    documented = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert "## Where the configuration comes from" in documented.read_text(encoding="utf-8")


def test_memory_url_options_are_read_as_their_types() -> None:
    from smsgate import Status

    provider = smsgate.from_url("memory://?capabilities=bulk,status&delivery_status=Sent"
                                "&balance=5&region=GE")
    assert provider.capabilities == frozenset({"bulk", "status"})  # not the letters of "bulk"
    assert provider.delivery_status is Status.SENT
    assert provider.balance().amount == 5
    with pytest.raises(ConfigurationError) as info:
        smsgate.from_url(f"memory://?delivery_status={CANARY}")
    assert "delivery_status: not one of" in str(info.value) and CANARY not in str(info.value)
    with pytest.raises(ConfigurationError, match=r"\(did you mean 'delivered'\?\)"):
        smsgate.from_config({"provider": "memory", "delivery_status": "deliverd"})
