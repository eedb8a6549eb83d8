"""The ``smsgate`` commands (click and rich, from the ``cli`` extra).

Exit codes: 0 success; 1 a provider error (the message names the error class and whether the
message may have been sent); 2 a usage, configuration or validation error. Expected errors never
print a traceback; ``--verbose`` shows logs, still redacted.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ._protocol import SmsProvider
from ._version import __version__
from .config import from_config, from_url
from .errors import ConfigurationError, ProviderError, SmsGateError, ValidationError
from .gateway import Gateway
from .models import RecipientResult, SendResult, Status
from .registry import available_providers, provider_class
from .segments import segments as count_segments

_F = TypeVar("_F", bound=Callable[..., Any])

#: Recipients per request when the CLI shows progress for a long list.
PROGRESS_BATCH = 100

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Settings:
    def __init__(self, config: str | None, url: str | None, verbose: bool) -> None:
        self.config, self.url, self.verbose = config, url, verbose

    def provider(self) -> SmsProvider:
        """--config, --url, SMSGATE_CONFIG, SMSGATE_URL, ./smsgate.toml: the first one set."""
        if self.config:
            return from_config(self.config)
        if self.url:
            return from_url(self.url)
        if os.environ.get("SMSGATE_CONFIG"):
            return from_config(os.environ["SMSGATE_CONFIG"])
        if os.environ.get("SMSGATE_URL"):
            return from_url(os.environ["SMSGATE_URL"])
        if Path("smsgate.toml").is_file():
            return from_config("smsgate.toml")
        raise ConfigurationError(
            "no provider configured: use --config FILE or --url URL, set SMSGATE_CONFIG or "
            "SMSGATE_URL, or write ./smsgate.toml (try `smsgate demo` to see one working)"
        )


def _fail(code: int, message: str, as_json: bool, payload: dict[str, Any]) -> NoReturn:
    if as_json:
        out.print_json(json.dumps(payload))
    else:
        err.print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(code)


def handles_errors(command: _F) -> _F:
    """Expected errors become a one-line message and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except (ValidationError, ConfigurationError) as exc:
            _fail(2, str(exc), as_json, {"error": type(exc).__name__, "message": str(exc)})
        except ProviderError as exc:
            may = "yes" if exc.may_have_sent else "no"
            _fail(1, f"{type(exc).__name__}: {exc} (may have been sent: {may})", as_json, {
                "error": type(exc).__name__, "message": str(exc),
                "may_have_sent": exc.may_have_sent, "retryable": exc.retryable,
                "code": exc.code, "http_status": exc.http_status,
            })
        except SmsGateError as exc:
            _fail(1, f"{type(exc).__name__}: {exc}", as_json,
                  {"error": type(exc).__name__, "message": str(exc)})

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="FILE", help="TOML file describing a provider or a gateway.")
@click.option("--url", metavar="URL", help="Provider URL, e.g. gosms.ge://KEY@?sender=Brand.")
@click.option("-v", "--verbose", is_flag=True, help="Show logs (credentials stay redacted).")
@click.version_option(__version__, prog_name="smsgate")
@click.pass_context
def cli(ctx: click.Context, config: str | None, url: str | None, verbose: bool) -> None:
    """Send SMS through GOSMS.GE, SMSOffice.ge, GoSMS.ro and SMSGist.

    Configuration comes from --config, --url, SMSGATE_CONFIG, SMSGATE_URL or ./smsgate.toml,
    in that order. Exit codes: 0 success, 1 provider error, 2 usage or validation error.
    """
    ctx.obj = Settings(config, url, verbose)
    if verbose:
        # smsgate's and urllib3's loggers carry the scrubbing filter: keys stay redacted.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        previous = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)

        def restore() -> None:
            root.removeHandler(handler)
            root.setLevel(previous)

        ctx.call_on_close(restore)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_object(Settings)  # type: ignore[assignment]
    return settings


def _recipients(to: Sequence[str], to_file: Any) -> list[str]:
    numbers = list(to)
    if to_file is not None:
        for line in to_file:
            value = line.split("#", 1)[0].split(",", 1)[0].strip()
            if value and value.lower() not in ("phone", "number", "to"):
                numbers.append(value)
    if not numbers:
        raise click.UsageError("give at least one recipient with --to or --to-file")
    return numbers


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2030-01-02T09:00:00+04:00",
                                 param_hint="--schedule-at") from None
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. +04:00 or Z",
                                 param_hint="--schedule-at")
    return when


def _batches(numbers: list[str]) -> Iterator[tuple[int, list[str]]]:
    for index, start in enumerate(range(0, len(numbers), PROGRESS_BATCH)):
        yield index, numbers[start : start + PROGRESS_BATCH]


def _send_with_progress(provider: SmsProvider, numbers: list[str], text: str,
                        options: dict[str, Any], quiet: bool) -> tuple[list[RecipientResult],
                                                                       list[SendResult]]:
    recipients: list[RecipientResult] = []
    results: list[SendResult] = []
    key = options.get("idempotency_key")
    progress = Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                        console=err, disable=quiet)
    with progress:
        task = progress.add_task("send", total=len(numbers))
        for index, batch in _batches(numbers):
            call = dict(options)
            if key:  # one key per request, or the provider would replay the first batch
                call["idempotency_key"] = f"{key}-{index}"
            try:
                result = provider.send(batch, text, **call)
            except ProviderError as exc:
                if not results:
                    raise
                recipients += RecipientResult.failed(batch, exc)
                recipients += RecipientResult.not_attempted(numbers[len(recipients):], exc)
                break
            results.append(result)
            recipients.extend(result.recipients)
            progress.update(task, advance=len(batch))
    return recipients, results


@cli.command()
@click.argument("text")
@click.option("--to", "to", multiple=True, metavar="NUMBER", help="Recipient (repeatable).")
@click.option("--to-file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="One number per line (or a CSV whose first column is the number).")
@click.option("--sender", help="Sender name (overrides the configured one).")
@click.option("--urgent", is_flag=True, help="Deliver even to opted-out recipients.")
@click.option("--flash", is_flag=True, help="Flash message (SMSOffice.ge).")
@click.option("--priority", is_flag=True, help="Priority route (SMSGist).")
@click.option("--schedule-at", metavar="ISO", help="Send later, e.g. 2030-01-02T09:00+04:00.")
@click.option("--validity", type=click.IntRange(min=1), metavar="MINUTES",
              help="Expire undelivered messages after this many minutes.")
@click.option("--reference", help="Your reference for status and callbacks.")
@click.option("--idempotency-key", help="Deduplication key (SMSGist).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def send(ctx: click.Context, text: str, to: tuple[str, ...], to_file: Any, sender: str | None,
         urgent: bool, flash: bool, priority: bool, schedule_at: str | None,
         validity: int | None, reference: str | None, idempotency_key: str | None,
         as_json: bool) -> None:
    """Send TEXT to one or many numbers."""
    numbers = _recipients(to, to_file)
    options: dict[str, Any] = {
        "sender": sender, "urgent": urgent, "flash": flash, "priority": priority,
        "schedule_at": _when(schedule_at),
        "validity": dt.timedelta(minutes=validity) if validity else None,
        "reference": reference, "idempotency_key": idempotency_key,
    }
    with _settings(ctx).provider() as provider:
        if len(numbers) > PROGRESS_BATCH:
            recipients, results = _send_with_progress(provider, numbers, text, options,
                                                      quiet=as_json)
            first = results[0]
        else:
            first = provider.send(numbers, text, **options)
            recipients, results = list(first.recipients), [first]
    ok = all(r.accepted for r in recipients)
    if as_json:
        out.print_json(json.dumps({
            "ok": ok, "provider": first.provider, "message_id": first.message_id,
            "segments": first.segments, "encoding": first.encoding,
            "cost": None if any(r.cost is None for r in results)
            else str(sum(r.cost for r in results if r.cost is not None)),
            "currency": first.currency,
            "balance": None if results[-1].balance is None else str(results[-1].balance),
            "idempotency_key": first.idempotency_key,
            "recipients": [{"phone": r.phone, "status": r.status.value,
                            "message_id": r.message_id, "error": r.error} for r in recipients],
        }))
    else:
        table = Table(title=f"{first.provider}: {len(recipients)} recipient(s)")
        for column in ("#", "phone", "status", "message id", "error"):
            table.add_column(column)
        for index, r in enumerate(recipients, 1):
            colour = "green" if r.accepted else "red"
            table.add_row(str(index), r.phone, f"[{colour}]{r.status.value}[/]",
                          escape(r.message_id or ""), escape(r.error or ""))
        out.print(table)
        accepted = sum(r.accepted for r in recipients)
        details = [f"{accepted}/{len(recipients)} accepted"]
        if first.segments:
            details.append(f"{first.segments} segment(s), {first.encoding}")
        if first.cost is not None:
            details.append(f"cost {first.cost} {first.currency or ''}".rstrip())
        out.print(" · ".join(details))
    if not ok:
        raise SystemExit(1)


@cli.command()
@click.argument("message_id")
@click.option("--recipient", metavar="NUMBER", help="The number (SMSOffice.ge needs it).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def status(ctx: click.Context, message_id: str, recipient: str | None, as_json: bool) -> None:
    """Delivery status of MESSAGE_ID."""
    with _settings(ctx).provider() as provider:
        result = provider.status(message_id, recipient=recipient)
    if as_json:
        out.print_json(json.dumps({
            "provider": result.provider, "message_id": result.message_id,
            "status": result.status.value,
            "recipients": [{"phone": r.phone, "status": r.status.value, "error": r.error,
                            "time": r.time.isoformat() if r.time else None}
                           for r in result.recipients],
        }))
        return
    out.print(f"{result.provider} {escape(result.message_id)}: [bold]{result.status.value}[/]")
    for r in result.recipients:
        extra = f" ({escape(r.error)})" if r.error else ""
        out.print(f"  {r.phone or '?'}: {r.status.value}{extra}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def balance(ctx: click.Context, as_json: bool) -> None:
    """Credit left at the configured provider."""
    with _settings(ctx).provider() as provider:
        result = provider.balance()
    if as_json:
        out.print_json(json.dumps({"provider": result.provider, "amount": str(result.amount),
                                   "unit": result.unit}))
    else:
        out.print(f"{result.provider}: {result.amount} {result.unit}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handles_errors
def providers(as_json: bool) -> None:
    """Registered providers and their capabilities."""
    rows = []
    for name in available_providers():
        try:
            cls = provider_class(name)
        except ConfigurationError as exc:
            rows.append((name, "-", f"unavailable: {exc}"))
            continue
        capabilities: frozenset[str] = getattr(cls, "capabilities", frozenset())
        rows.append((name, f"{cls.__module__.split('.')[0]}.{cls.__name__}",
                     ", ".join(sorted(capabilities))))
    if as_json:
        out.print_json(json.dumps([{"name": n, "class": c, "capabilities": caps.split(", ")}
                                   for n, c, caps in rows]))
        return
    table = Table(title="smsgate providers")
    for column in ("name", "class", "capabilities"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handles_errors
def segments(text: str, as_json: bool) -> None:
    """How TEXT travels: encoding, segments, characters left; highlights what forced UCS-2."""
    info = count_segments(text)
    if as_json:
        out.print_json(json.dumps({
            "encoding": info.encoding, "units": info.units, "segments": info.segments,
            "per_segment": info.per_segment, "remaining": info.remaining,
            "non_gsm_chars": list(info.non_gsm_chars),
        }))
        return
    out.print(f"encoding: [bold]{info.encoding}[/]  units: {info.units}  segments: "
              f"{info.segments}  per segment: {info.per_segment}  left in the last: "
              f"{info.remaining}")
    if info.non_gsm_chars:
        offenders = set(info.non_gsm_chars)
        marked = "".join(f"[reverse red]{escape(c)}[/]" if c in offenders else escape(c)
                         for c in text)
        out.print("forced UCS-2 by: " + " ".join(repr(c) for c in info.non_gsm_chars))
        out.print(marked)


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the inbox page (providers take free ports).")
@click.option("--delivery-delay", type=float, default=2.0, show_default=True,
              help="Seconds before messages report delivered.")
@click.option("--serve-for", type=float, default=None, hidden=True)
@handles_errors
def sandbox(port: int, delivery_delay: float, serve_for: float | None) -> None:
    """Serve a local emulator of all four providers until Ctrl-C."""
    from .sandbox import Sandbox

    with Sandbox(port=port, delivery_delay=delivery_delay) as running:
        names = ("gosms.ge", "smsoffice.ge", "gosms.ro", "smsgist")
        table = Table(title="smsgate sandbox")
        for column in ("provider", "base URL", "credentials"):
            table.add_column(column)
        for name in names:
            creds = ", ".join(f"{k}={v}" for k, v in running.credentials(name).items())
            table.add_row(name, running.base_url(name), creds)
        out.print(table)
        out.print(f"inbox:  {running.url}/", soft_wrap=True)
        out.print(f"ledger: {running.url}/_sandbox/messages", soft_wrap=True)
        out.print("Point a provider at it, e.g.:")
        for name in names:
            url = running.provider_url(name, sender="Demo")
            out.print(f"  export SMSGATE_URL='{url}'", soft_wrap=True)
        out.print("Press Ctrl-C to stop.")
        try:
            if serve_for is not None:
                time.sleep(serve_for)
            else:  # pragma: no cover - interactive
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:  # pragma: no cover - interactive
            out.print("stopping")


@cli.command()
@handles_errors
def demo() -> None:
    """Send through all four providers over real HTTP to a local sandbox; no account needed."""
    from .sandbox import Sandbox

    table = Table(title="smsgate demo: four providers, one interface (local sandbox)")
    for column in ("step", "provider", "outcome", "details"):
        table.add_column(column, overflow="fold")
    failures = 0

    def row(step: str, provider: str, ok: bool, details: str) -> None:
        nonlocal failures
        failures += not ok
        table.add_row(step, provider, "[green]ok[/]" if ok else "[red]FAILED[/]", details)

    numbers = {"gosms.ge": "+995555123456", "smsoffice.ge": "+995577123456",
               "gosms.ro": "0712345678", "smsgist": "0245972246"}
    with Sandbox(delivery_delay=0.3) as running:
        clients = {name: running.provider(name, sender="Demo") for name in numbers}
        sent: dict[str, SendResult] = {}
        for name, number in numbers.items():
            result = clients[name].send(number, f"Hello from smsgate via {name}")
            sent[name] = result
            cost = f", cost {result.cost} {result.currency}" if result.cost is not None else ""
            row("send", name, result.ok,
                f"{result.recipients[0].phone} id {result.message_id}{cost}")
        bulk = clients["gosms.ge"].send(
            ["+995555111111", "+995555222222", "+995555120000"], "Bulk hello")
        refused = [r.phone for r in bulk.recipients if not r.accepted]
        row("bulk send", "gosms.ge", len(refused) == 1,
            f"{len(bulk.recipients) - len(refused)} accepted, {len(refused)} stop-listed "
            f"({', '.join(refused)})")
        time.sleep(0.4)
        check = clients["smsoffice.ge"].status(sent["smsoffice.ge"].message_id or "",
                                               recipient="+995577123456")
        row("status", "smsoffice.ge", check.status is Status.DELIVERED,
            f"reference {check.message_id}: {check.status.value}")
        gist_status = clients["smsgist"].status(sent["smsgist"].message_id or "")
        row("status", "smsgist", gist_status.status in (Status.DELIVERED, Status.SENT),
            f"{gist_status.recipients[0].phone}: {gist_status.recipients[0].status.value}")
        for name in ("gosms.ge", "smsoffice.ge"):
            money = clients[name].balance()
            row("balance", name, money.amount > 0, f"{money.amount} {money.unit}")
        running.fault("gosms.ge", "refuse")
        gateway = Gateway([clients["gosms.ge"], clients["smsoffice.ge"]])
        routed = gateway.send("+995555123456", "Failover hello")
        tried = [a.error for a in routed.attempts if a.provider == "gosms.ge"]
        row("failover", "gosms.ge → smsoffice.ge", routed.provider == "smsoffice.ge",
            f"gosms.ge down ({len(tried)} x {tried[0] if tried else '?'}), "
            f"sent via {routed.provider}")
        ledger = len(running.messages())
    out.print(table)
    out.print(f"{ledger} messages reached the sandbox over real sockets on 127.0.0.1.")
    if failures:
        raise SystemExit(1)
