"""The ``smsgate`` commands (click and rich, from the ``cli`` extra).

Exit codes: 0 success; 1 a provider error (the message names the error class and whether the
message may have been sent); 2 a usage, configuration or validation error. Expected errors never
print a traceback; ``--verbose`` shows logs, still redacted.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ._merge import merge_results
from ._options import SEND_OPTION_TABLE, SendOption
from ._protocol import SmsProvider
from ._provider import ProviderBase
from ._version import __version__
from .config import resolve
from .errors import (
    AllProvidersFailed,
    ConfigurationError,
    InvalidPhoneNumber,
    ProviderError,
    RateLimited,
    SmsGateError,
    ValidationError,
)
from .gateway import Gateway
from .guards import PriceTable, estimate, preview
from .models import Attempt, RecipientResult, SendResult, Status
from .phone import normalize_phone, region_of
from .registry import _emulator_paths, available_providers, provider_class
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
        """The one resolution order of :func:`smsgate.config.resolve`, flags first."""
        return resolve(config=self.config, url=self.url, command_line=True)


def _fail(code: int, message: str, as_json: bool, payload: dict[str, Any]) -> NoReturn:
    if as_json:
        out.print_json(json.dumps(payload))
    else:
        err.print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(code)


def _describe(exc: SmsGateError) -> str:
    """``Class (provider, code, HTTP): message``, without the provider named twice."""
    if not isinstance(exc, ProviderError):
        return f"{type(exc).__name__}: {exc}"
    where = [p for p in (exc.provider,) if p]
    if exc.code is not None:
        where.append(f"code {exc.code}")
    if exc.http_status is not None and not 200 <= exc.http_status < 300:
        where.append(f"HTTP {exc.http_status}")  # an error inside a 200 reply: noise
    message = exc.message
    if exc.provider and message.startswith(f"{exc.provider}: "):
        message = message[len(exc.provider) + 2 :]
    head = f"{type(exc).__name__} ({', '.join(where)})" if where else type(exc).__name__
    return f"{head}: {message}"


def _when_to_retry(exc: ProviderError) -> str:
    if not isinstance(exc, RateLimited):
        return ""
    if exc.retry_after is not None:
        return f"; retry in {exc.retry_after:g} s"
    return "; retry later (the provider gave no time)"


def _error_payload(exc: ProviderError, *, sends: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "error": type(exc).__name__, "message": exc.message, "provider": exc.provider,
        "retryable": exc.retryable, "code": exc.code, "http_status": exc.http_status,
        "retry_after": exc.retry_after,
    }
    if sends:
        payload["may_have_sent"] = exc.may_have_sent
        payload["idempotency_key"] = exc.idempotency_key
    if isinstance(exc, AllProvidersFailed):
        payload["errors"] = [
            _error_payload(e, sends=sends) if isinstance(e, ProviderError)
            else {"error": type(e).__name__, "message": str(e)}
            for e in exc.errors
        ]
    return payload


def _provider_failure(exc: ProviderError, *, sends: bool) -> str:
    """One line for a failed call; only a send says whether the message may have gone out."""
    if isinstance(exc, AllProvidersFailed) and exc.errors:
        clauses = "; ".join(_describe(e) for e in exc.errors)
        text = f"no provider accepted the message: {clauses}"
    else:
        text = _describe(exc) + _when_to_retry(exc)
    if sends:
        text += f" (may have been sent: {'yes' if exc.may_have_sent else 'no'})"
        if exc.may_have_sent and exc.idempotency_key:
            text += (f"; repeat with --idempotency-key {exc.idempotency_key} and the provider "
                     "will not send it twice")
    return text


def handles_errors(command: _F) -> _F:
    """Expected errors become a one-line message and an exit code, never a traceback.

    Only ``send`` says whether the message may have been sent: a lookup sends nothing.
    """
    sends = command.__name__ in _SENDING_COMMANDS

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except (ValidationError, ConfigurationError) as exc:
            _fail(2, str(exc), as_json, {"error": type(exc).__name__, "message": str(exc)})
        except ProviderError as exc:
            _fail(1, _provider_failure(exc, sends=sends), as_json,
                  _error_payload(exc, sends=sends))
        except SmsGateError as exc:
            _fail(1, _describe(exc), as_json, {"error": type(exc).__name__, "message": str(exc)})

    return wrapper  # type: ignore[return-value]


#: Commands that can send a message (their errors say whether it may have gone out).
_SENDING_COMMANDS = frozenset({"send"})

#: Options that belong to the ``smsgate`` group, before the sub-command.
_GLOBAL_OPTIONS = frozenset({"--url", "--config", "-v", "--verbose"})


class _Command(click.Command):
    """A sub-command that explains a global option given after it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            if exc.option_name in _GLOBAL_OPTIONS:
                raise click.UsageError(
                    f"{exc.option_name} is a global option: put it before the command, "
                    f"e.g. smsgate {exc.option_name} ... {self.name} ...",
                    ctx,
                ) from None
            raise


class _Group(click.Group):
    command_class = _Command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="FILE", help="TOML file describing a provider or a gateway.")
@click.option("--url", metavar="URL", help="Provider URL, e.g. gosms.ge://KEY@?sender=Brand.")
@click.option("-v", "--verbose", is_flag=True, help="Show logs (credentials stay redacted).")
@click.version_option(__version__, prog_name="smsgate")
@click.pass_context
def cli(ctx: click.Context, config: str | None, url: str | None, verbose: bool) -> None:
    """Send SMS through GOSMS.GE, SMSOffice.ge, GoSMS.ro and SMSGist.

    Configuration comes from --config, --url, SMSGATE_CONFIG, SMSGATE_URL or ./smsgate.toml:
    the first one set wins, as for smsgate.from_env() (see docs/configuration.md, "Where the
    configuration comes from"). A dry run: --url 'memory://@?like=gosms.ge&sender=MyShop'.

    Exit codes: 0 success, 1 provider error, 2 usage, configuration or validation error.
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


#: Header names (any case) of the column read as the number in a CSV file.
NUMBER_COLUMNS = ("phone", "number", "to", "msisdn", "mobile", "recipient")


def _entries(to: Sequence[str], to_file: str | None) -> list[tuple[str, str]]:
    """``(number as written, where it came from)`` for each --to and each line of --to-file.

    A file holds one number per line, or is a CSV: with a header, the column named like
    :data:`NUMBER_COLUMNS` (else the first column); without one, the first column. Blank lines
    and lines starting with ``#`` are skipped.
    """
    entries = [(number, "--to") for number in to]
    if to_file is None:
        return entries
    name = Path(to_file).name
    text = Path(to_file).read_text(encoding="utf-8-sig")
    column = 0
    first = True
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row]
        if first:
            first = False
            header = [cell.lower() for cell in cells]
            named = [i for i, cell in enumerate(header) if cell in NUMBER_COLUMNS]
            if named or not any(ch.isdigit() for ch in cells[0]):
                column = named[0] if named else 0
                continue  # a header row
        value = cells[column] if column < len(cells) else ""
        entries.append((value, f"{name}:{line_no}"))
    return entries


def _home_region(provider: SmsProvider) -> str | None:
    """The region national numbers are read in: a provider's home, or a gateway's region."""
    if isinstance(provider, Gateway):
        return provider.region
    region = getattr(provider, "home_region", None)
    return region if isinstance(region, str) else None


@attrs.frozen
class _Recipients:
    numbers: list[str]
    invalid: list[str]
    dropped: int


def _recipients(provider: SmsProvider, entries: list[tuple[str, str]], *,
                skip_invalid: bool, allow_duplicates: bool) -> _Recipients:
    """Validate every entry (all errors at once, as ``FILE:LINE: reason``), then deduplicate."""
    if not entries:
        raise click.UsageError("give at least one recipient with --to or --to-file")
    region = _home_region(provider)
    reach = getattr(provider, "allowed_regions", None)
    like = getattr(provider, "like", None)  # a dry run imitating a real provider
    who = f"{provider.name} (like {like})" if isinstance(like, str) else provider.name
    numbers: list[str] = []
    invalid: list[str] = []
    for value, where in entries:
        try:
            e164 = normalize_phone(value, region)
        except InvalidPhoneNumber as exc:
            reason = str(exc).split(":", 1)[0] if value else "empty entry"
            invalid.append(f"{where}: {value!r}: {reason}")
            continue
        if isinstance(reach, frozenset) and region_of(e164) not in reach:
            invalid.append(f"{where}: {value!r}: {who} delivers only to "
                           f"{', '.join(sorted(reach))}")
            continue
        numbers.append(e164)
    if invalid and not skip_invalid:
        listing = "\n  ".join(invalid)
        raise ValidationError(
            f"{len(invalid)} invalid recipient(s); fix them or pass --skip-invalid to send to "
            f"the rest:\n  {listing}"
        )
    if not numbers:
        raise ValidationError("no valid recipient left to send to")
    dropped = 0
    if not allow_duplicates:
        unique = list(dict.fromkeys(numbers))
        dropped = len(numbers) - len(unique)
        numbers = unique
    return _Recipients(numbers=numbers, invalid=invalid, dropped=dropped)


def _when(value: str | None, flag: str) -> dt.datetime | None:
    """An ISO 8601 instant with a time zone, in the future (``--schedule-at``)."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2030-01-02T09:00:00+04:00",
                                 param_hint=flag) from None
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. +04:00 or Z", param_hint=flag)
    if when <= dt.datetime.now(dt.timezone.utc):
        raise click.BadParameter(f"{value} is in the past; leave {flag} out to send now",
                                 param_hint=flag)
    return when


def _minutes(value: int | None, flag: str) -> dt.timedelta | None:
    """A whole number of minutes (``--validity``)."""
    return dt.timedelta(minutes=value) if value else None


def _as_given(value: Any, flag: str) -> Any:
    return value


@attrs.frozen
class _Kind:
    """How a send option of one Python type is written on the command line."""

    settings: dict[str, Any]
    convert: Callable[[Any, str], Any]


#: One entry per type of send option (the type of its sample value in
#: :data:`~smsgate._options.SEND_OPTION_TABLE`): a new option of a known type needs nothing
#: here, and an option of a new type fails loudly at import.
_KINDS: Final[Mapping[type, _Kind]] = {
    bool: _Kind({"is_flag": True}, _as_given),
    str: _Kind({}, _as_given),
    dt.datetime: _Kind({"metavar": "ISO"}, _when),
    dt.timedelta: _Kind({"type": click.IntRange(min=1), "metavar": "MINUTES"}, _minutes),
}

#: The send options the ``send`` command offers, in the vocabulary's order.
_CLI_OPTIONS: Final = tuple(option for option in SEND_OPTION_TABLE if option.cli)


def _flag_of(option: SendOption) -> str:
    return "--" + option.name.replace("_", "-")


def _kind_of(option: SendOption) -> _Kind:
    return _KINDS[type(option.sample)]


def send_options(command: _F) -> _F:
    """Decorate ``command`` with one ``--flag`` per send option of the vocabulary, its help
    taken from the vocabulary too (the command receives them as keyword arguments)."""
    for option in reversed(_CLI_OPTIONS):
        settings = dict(_kind_of(option).settings)
        if not settings.get("is_flag") and "metavar" not in settings:
            settings["metavar"] = option.name.rsplit("_", 1)[-1].upper()
        command = click.option(_flag_of(option), option.name, help=option.help,
                               **settings)(command)
    return command


def _send_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword options of ``send`` from the command line's values, converted."""
    return {option.name: _kind_of(option).convert(given[option.name], _flag_of(option))
            for option in _CLI_OPTIONS}


def _batches(numbers: list[str]) -> Iterator[tuple[int, list[str]]]:
    for index, start in enumerate(range(0, len(numbers), PROGRESS_BATCH)):
        yield index, numbers[start : start + PROGRESS_BATCH]


def _send_with_progress(
    provider: SmsProvider, numbers: list[str], text: str, options: dict[str, Any], quiet: bool
) -> tuple[list[RecipientResult], list[SendResult], str | None]:
    """Send in batches; also the key to repeat the command with when a batch's outcome is
    unknown at a provider that deduplicates (``None`` otherwise)."""
    repeat_key = None
    recipients: list[RecipientResult] = []
    results: list[SendResult] = []
    key = options.get("idempotency_key")
    if key is None and "idempotency" in provider.capabilities:
        # Minted here, not per batch by the provider: one key to repeat the whole command with.
        key = uuid.uuid4().hex
    progress = Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                        console=err, disable=quiet)
    with progress:
        task = progress.add_task("send", total=len(numbers))
        for index, batch in _batches(numbers):
            call = dict(options)
            if key:  # one key per request, or the provider would replay the first batch
                # The first batch uses the key itself, so that an error raised by it names
                # the key to repeat the whole command with.
                call["idempotency_key"] = f"{key}-{index}" if index else key
            try:
                result = provider.send(batch, text, **call)
            except SmsGateError as exc:
                if not results:
                    raise
                # Reported per recipient: earlier batches went out, and an exception would
                # hide that from someone deciding what to resend.
                recipients += RecipientResult.failed(batch, exc)
                recipients += RecipientResult.not_attempted(numbers[len(recipients):], exc)
                progress.update(task, completed=len(numbers))
                if getattr(exc, "idempotency_key", None):
                    repeat_key = key
                break
            results.append(result)
            recipients.extend(result.recipients)
            progress.update(task, advance=len(batch))
    return recipients, results, repeat_key


def _route(attempts: Sequence[Attempt], accepted_by: str) -> str:
    """``gosms.ge: ConnectError x2 → smsoffice.ge: accepted`` from a send's attempts."""
    steps: list[tuple[str, collections.Counter[str]]] = []
    for attempt in attempts:
        if not steps or steps[-1][0] != attempt.provider:
            steps.append((attempt.provider, collections.Counter()))
        if attempt.error:
            steps[-1][1][attempt.error] += 1
    if not steps or steps[-1][0] != accepted_by:
        steps.append((accepted_by, collections.Counter()))
    clauses = []
    for index, (name, errors) in enumerate(steps):
        said = ", ".join(f"{e} x{n}" if n > 1 else e for e, n in errors.items())
        if index == len(steps) - 1:
            said = f"{said}, then accepted" if said else "accepted"
        clauses.append(f"{name}: {said}")
    return " → ".join(clauses)


def _routes(results: Sequence[SendResult]) -> list[str]:
    """Each distinct route, with how many batches took it when there were several."""
    counted = collections.Counter(_route(r.attempts, r.provider) for r in results)
    if len(results) == 1:
        return list(counted)
    return [f"{route} ({n} batch{'es' if n > 1 else ''})" for route, n in counted.items()]


def _reason(r: RecipientResult) -> str:
    if r.status is Status.UNKNOWN:
        return "unknown outcome"
    return (r.error or r.status.value)[:80]


#: Above this many recipients the table lists only the failed ones (``--full``: all).
FULL_TABLE_UP_TO = 20


@cli.command()
@click.argument("text")
@click.option("--to", "to", multiple=True, metavar="NUMBER", help="Recipient (repeatable).")
@click.option("--to-file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="One number per line, or a CSV: the column headed phone, number, to, "
                   "msisdn, mobile or recipient, else the first column.")
@click.option("--skip-invalid", is_flag=True,
              help="Send to the valid numbers and list the invalid ones (default: send none).")
@click.option("--allow-duplicates", is_flag=True,
              help="Send again to a number listed twice (default: once per number).")
@send_options
@click.option("--dry-run", is_flag=True,
              help="Validate, apply the send policy and estimate the cost; send nothing.")
@click.option("--prices", "prices_file", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A TOML file with a [prices] table (for the estimate).")
@click.option("--full", is_flag=True, help="List every recipient, not only the failed ones.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def send(ctx: click.Context, /, text: str, to: tuple[str, ...], to_file: str | None,
         skip_invalid: bool, allow_duplicates: bool, dry_run: bool, prices_file: str | None,
         full: bool, as_json: bool, **given: Any) -> None:
    """Send TEXT to one or many numbers.

    A number listed twice (after normalisation) is sent once unless --allow-duplicates. Every
    invalid entry is reported as FILE:LINE; nothing is sent unless --skip-invalid. With
    --dry-run nothing is sent at all: each recipient is checked against the send policy
    (no velocity slot is booked, no budget reserved) and the cost is estimated.
    """
    options = _send_options(given)
    if allow_duplicates:  # the library, like the CLI, sends each number once unless asked
        options["allow_duplicates"] = True
    entries = _entries(to, to_file)
    started = time.monotonic()
    with _settings(ctx).provider() as provider:
        chosen = _recipients(provider, entries, skip_invalid=skip_invalid,
                             allow_duplicates=allow_duplicates)
        if not as_json:
            for line in chosen.invalid:
                err.print(f"[yellow]skipped[/] {escape(line)}")
            if chosen.dropped:
                err.print(f"dropped {chosen.dropped} repeated number(s) "
                          "(--allow-duplicates sends them again)")
        numbers = chosen.numbers
        if dry_run:
            _dry_run(provider, numbers, text, options, _price_table(prices_file, provider),
                     as_json=as_json)
            return
        if len(numbers) > PROGRESS_BATCH:
            recipients, results, repeat_key = _send_with_progress(
                provider, numbers, text, options, quiet=as_json)
        else:
            single = provider.send(numbers, text, **options)
            recipients, results, repeat_key = list(single.recipients), [single], None
    elapsed = time.monotonic() - started
    # The batches as one result, merged as the gateway merges chunks and route groups.
    merged = merge_results(results, recipients=recipients)
    ok = all(r.accepted for r in recipients)
    if as_json:
        out.print_json(json.dumps({
            "ok": ok, "provider": merged.provider, "message_id": merged.message_id,
            "segments": merged.segments, "encoding": merged.encoding,
            "cost": None if merged.cost is None else str(merged.cost),
            "currency": merged.currency,
            "costs": {currency: str(total) for currency, total in merged.costs.items()},
            "balance": None if merged.balance is None else str(merged.balance),
            "idempotency_key": merged.idempotency_key,
            "batches": len(results), "routes": _routes(results),
            "invalid": chosen.invalid, "dropped_duplicates": chosen.dropped,
            "attempts": [{"provider": a.provider, "operation": a.operation,
                          "http_status": a.http_status, "error": a.error,
                          "elapsed": round(a.elapsed, 3)}
                         for r in results for a in r.attempts],
            "recipients": [{"phone": r.phone, "status": r.status.value,
                            "message_id": r.message_id, "error": r.error} for r in recipients],
        }))
    else:
        _print_send(recipients, results, merged, full=full, elapsed=elapsed,
                    repeat_key=repeat_key)
    if not ok:
        raise SystemExit(1)


def _price_table(path: str | None, provider: SmsProvider) -> PriceTable | None:
    """``--prices FILE``, else the prices of the provider's send policy, else none."""
    if path is not None:
        return PriceTable.from_toml(path)
    found = getattr(getattr(provider, "policy", None), "prices", None)
    return found if isinstance(found, PriceTable) else None


def _dry_run(provider: SmsProvider, numbers: list[str], text: str, options: dict[str, Any],
             prices: PriceTable | None, *, as_json: bool) -> None:
    """``send --dry-run``: the provider's own checks (pure), the policy (changing nothing)
    and the estimate; exit 1 when the policy would refuse a recipient."""
    if isinstance(provider, ProviderBase):
        provider.prepare(numbers, text, **options)  # raises what the send would raise
    verdict = preview(provider, numbers, text, options)
    going = [n for n in numbers if n not in verdict.refused]
    quote = estimate(provider, going, text, prices=prices) if prices and going else None
    priced = {item.phone: item for item in quote.recipients} if quote else {}
    rows = []
    for number in numbers:
        refusal = verdict.refused.get(number)
        item = priced.get(number)
        rows.append({
            "phone": number, "would_send": refusal is None,
            "reason": None if refusal is None else refusal.reason,
            "error": None if refusal is None else str(refusal),
            "segments": None if item is None else item.segments,
            "cost": None if item is None or item.cost is None else str(item.cost),
            "currency": None if item is None or item.price is None else item.price.currency,
        })
    if as_json:
        out.print_json(json.dumps({
            "dry_run": True, "would_send": len(going), "refused": len(verdict.refused),
            "costs": {} if quote is None else {c: str(v) for c, v in quote.costs.items()},
            "recipients": rows,
        }))
    else:
        table = Table(title=f"dry run: {provider.name}, {len(numbers)} recipient(s)")
        for column in ("phone", "policy", "segments", "cost"):
            table.add_column(column)
        for row in rows:
            verdict_text = "[green]would send[/]" if row["would_send"] else \
                f"[red]refused[/] ({escape(str(row['reason']))})"
            cost = "" if row["cost"] is None else f"{row['cost']} {row['currency']}"
            table.add_row(str(row["phone"]), verdict_text, str(row["segments"] or ""), cost)
        out.print(table)
        spent = "" if quote is None else " · cost " + ", ".join(
            f"{total} {currency}" for currency, total in quote.costs.items())
        out.print(escape(f"dry run: {len(going)} would be sent, {len(verdict.refused)} "
                         f"refused{spent} · nothing was sent"))
    if verdict.refused:
        raise SystemExit(1)


@cli.command("estimate")
@click.argument("text")
@click.option("--to", "to", multiple=True, metavar="NUMBER", help="Recipient (repeatable).")
@click.option("--to-file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="One number per line, or a CSV (as for send).")
@click.option("--prices", "prices_file", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A TOML file with a [prices] table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def estimate_command(ctx: click.Context, text: str, to: tuple[str, ...], to_file: str | None,
                     prices_file: str | None, as_json: bool) -> None:
    """What sending TEXT would cost, per recipient, with each provider's segment counting.

    Nothing is sent. Prices come from --prices FILE (a [prices] table: provider -> country
    -> "0.03 EUR").
    """
    entries = _entries(to, to_file)
    with _settings(ctx).provider() as provider:
        chosen = _recipients(provider, entries, skip_invalid=False, allow_duplicates=False)
        prices = _price_table(prices_file, provider)
        if prices is None:
            raise click.UsageError("give the prices with --prices FILE (a [prices] table)")
        quote = estimate(provider, chosen.numbers, text, prices=prices)
    if as_json:
        out.print_json(json.dumps({
            "costs": {c: str(v) for c, v in quote.costs.items()}, "segments": quote.segments,
            "unpriced": list(quote.unpriced),
            "recipients": [{"phone": r.phone, "provider": r.provider, "encoding": r.encoding,
                            "segments": r.segments,
                            "price": None if r.price is None else str(r.price.amount),
                            "currency": None if r.price is None else r.price.currency,
                            "cost": None if r.cost is None else str(r.cost)}
                           for r in quote.recipients],
        }))
        return
    table = Table(title=f"estimate: {len(quote.recipients)} recipient(s)")
    for column in ("phone", "provider", "encoding", "segments", "cost"):
        table.add_column(column)
    for r in quote.recipients:
        cost = "no price" if r.cost is None or r.price is None else \
            f"{r.cost} {r.price.currency}"
        table.add_row(r.phone, r.provider, r.encoding, str(r.segments), cost)
    out.print(table)
    total = ", ".join(f"{v} {c}" for c, v in quote.costs.items()) or "nothing priced"
    missing = f" · {len(quote.unpriced)} without a price" if quote.unpriced else ""
    out.print(escape(f"total {total} · {quote.segments} segment(s){missing}"))


def _print_send(recipients: list[RecipientResult], results: list[SendResult],
                merged: SendResult, *, full: bool, elapsed: float,
                repeat_key: str | None = None) -> None:
    """A table (every row for small sends or --full, else the failed rows), then a summary."""
    first = results[0]
    failed = [(i, r) for i, r in enumerate(recipients, 1) if not r.accepted]
    rows = list(enumerate(recipients, 1)) if full or len(recipients) <= FULL_TABLE_UP_TO \
        else failed
    if rows:
        title = (f"{first.provider}: {len(recipients)} recipient(s)" if len(rows) ==
                 len(recipients) else f"failed: {len(failed)} of {len(recipients)} "
                 "(--full lists every recipient)")
        table = Table(title=title)
        for column in ("#", "phone", "status", "message id", "error"):
            table.add_column(column)
        for index, r in rows:
            colour = "green" if r.accepted else "red"
            table.add_row(str(index), r.phone, f"[{colour}]{r.status.value}[/]",
                          escape(r.message_id or ""), escape(r.error or ""))
        out.print(table)
    accepted = sum(r.accepted for r in recipients)
    details = [f"{accepted}/{len(recipients)} accepted"]
    not_attempted = [r for r in recipients if (r.error or "").startswith("not attempted")]
    unknown = [r for r in recipients if r.status is Status.UNKNOWN]
    refused = collections.Counter(
        _reason(r) for r in recipients
        if not r.accepted and r.status is not Status.UNKNOWN and r not in not_attempted
    )
    if refused:
        reasons = ", ".join(f"{reason} x{n}" for reason, n in refused.most_common(5))
        more = len(refused) - 5
        details.append(f"refused {sum(refused.values())} ({reasons}"
                       f"{f', {more} other reason(s)' if more > 0 else ''})")
    if unknown:
        advice = (f"repeat the same command with --idempotency-key {repeat_key}: what was "
                  "sent is not sent again" if repeat_key else "check status before resending")
        details.append(f"unknown {len(unknown)} (may have been sent: {advice})")
    if not_attempted:
        details.append(f"not attempted {len(not_attempted)}")
    out.print(escape(" · ".join(details)))
    facts = []
    if first.segments:
        facts.append(f"{first.segments} segment(s), {first.encoding}")
    if merged.costs:
        spent = ", ".join(f"{total} {currency}".rstrip()
                          for currency, total in merged.costs.items())
        missing = sum(r.cost is None for r in results)
        facts.append(f"cost {spent}" + (f" ({missing} batch(es) without a cost)"
                                        if missing else ""))
    if len(results) > 1 or len(recipients) > PROGRESS_BATCH:
        facts.append(f"{len(results)} batch(es)")
    facts.append(f"{elapsed:.1f} s")
    out.print(escape(" · ".join(facts)))
    routes = _routes(results)
    if any(" → " in route or "then accepted" in route for route in routes):
        for route in routes:
            out.print(escape(f"route: {route}"))


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


#: The emulated providers, in the order of their sandbox ports (the registry's order; the
#: registry holds paths, so reading it imports no emulator).
_EMULATED: Final = tuple(_emulator_paths())
_PORTS: Final = ", ".join(f"P+{i} {name}" for i, name in enumerate(_EMULATED, start=1))


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535 - len(_EMULATED)), default=0,
              show_default=True, metavar="P",
              help="Port of the inbox page; the providers then listen on fixed ports "
                   f"{_PORTS}, so URLs in a .env keep working across restarts. 0: free ports, "
                   "new ones each start.")
@click.option("--balance", "balances", multiple=True, metavar="[PROVIDER=]AMOUNT",
              help="Starting balance in the provider's unit (the table printed at start shows "
                   "each unit); default 10000 each. Repeatable: --balance 0 --balance "
                   f"{_EMULATED[-1]}=5. Reset later with POST /_sandbox/balance.")
@click.option("--delivery-delay", type=float, default=2.0, show_default=True,
              help="Seconds before messages report delivered.")
@click.option("--serve-for", type=float, default=None, hidden=True)
@handles_errors
def sandbox(port: int, balances: tuple[str, ...], delivery_delay: float,
            serve_for: float | None) -> None:
    """Serve a local emulator of every emulated provider until Ctrl-C.

    Numbers ending in 0000 are refused, numbers ending in 9999 fail delivery. The inbox page
    lists accepted, refused and fault-injected requests; faults and balances are set over
    HTTP (see the sandbox page of the docs).
    """
    from .sandbox import PORT_ORDER, UNITS, Sandbox

    names = PORT_ORDER
    everyone: str | None = None
    named: dict[str, str] = {}
    for item in balances:
        name, _, amount = item.rpartition("=")
        if name:
            named[name.strip()] = amount
        else:
            everyone = amount
    starting = {name: everyone for name in names if everyone is not None} | named
    configured = Sandbox(port=port, delivery_delay=delivery_delay, balance=starting)
    # The sandbox's warnings (a TLS client on its plain-http ports, a failed request) reach
    # the terminal as one line each, without -v.
    sandbox_log = logging.getLogger("smsgate.sandbox")
    handler: logging.Handler | None = None
    if not sandbox_log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("sandbox %(levelname)s: %(message)s"))
        sandbox_log.addHandler(handler)
    try:
        with configured as running:
            table = Table(title="smsgate sandbox")
            for column in ("provider", "base URL", "credentials", "balance"):
                table.add_column(column)
            for name in names:
                creds = ", ".join(f"{k}={v}" for k, v in running.credentials(name).items())
                table.add_row(name, running.base_url(name), creds,
                              f"{running.balance(name)} {UNITS[name]}")
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
    finally:
        if handler is not None:
            sandbox_log.removeHandler(handler)


@cli.command()
@handles_errors
def demo() -> None:
    """Send through every emulated provider over real HTTP to a local sandbox; no account
    needed.

    What it tries comes from the providers' declarations: each one sends to its emulator's
    number; the first that sends in bulk sends a list with a stop-listed number; those that
    look up a status or a balance do; and the first two that reach the same number show a
    failover.
    """
    from .sandbox import BLOCKED_SUFFIX, Sandbox
    from .sandbox._providers import EMULATED

    names = list(EMULATED)
    table = Table(title=f"smsgate demo: {len(names)} providers, one interface (local sandbox)")
    for column in ("step", "provider", "outcome", "details"):
        table.add_column(column, overflow="fold")
    failures = 0

    def row(step: str, provider: str, ok: bool, details: str) -> None:
        nonlocal failures
        failures += not ok
        table.add_row(step, provider, "[green]ok[/]" if ok else "[red]FAILED[/]", details)

    classes = {name: provider_class(name) for name in names}
    can = {name: frozenset(getattr(cls, "capabilities", frozenset()))
           for name, cls in classes.items()}
    numbers = {name: EMULATED[name].number for name in names}
    with Sandbox(delivery_delay=0.3) as running:
        clients = {name: running.provider(name, sender="Demo") for name in names}
        sent: dict[str, SendResult] = {}
        for name, number in numbers.items():
            result = clients[name].send(number, f"Hello from smsgate via {name}")
            sent[name] = result
            cost = f", cost {result.cost} {result.currency}" if result.cost is not None else ""
            row("send", name, result.ok,
                f"{result.recipients[0].phone} id {result.message_id}{cost}")
        bulky = next((name for name in names if "bulk" in can[name]), None)
        if bulky is not None:
            head = numbers[bulky][:-4]
            listed = [head + "1111", head + "2222", head + BLOCKED_SUFFIX]
            bulk = clients[bulky].send(listed, "Bulk hello")
            refused = [r.phone for r in bulk.recipients if not r.accepted]
            row("bulk send", bulky, refused == listed[2:],
                f"{len(bulk.recipients) - len(refused)} accepted, {len(refused)} stop-listed "
                f"({', '.join(refused)})")
        time.sleep(0.4)
        for name in names:
            if "status" not in can[name]:
                continue
            check = clients[name].status(sent[name].message_id or "", recipient=numbers[name])
            state = check.recipients[0].status if check.recipients else check.status
            row("status", name, state in (Status.DELIVERED, Status.SENT),
                f"{check.message_id}: {state.value}")
        for name in names:
            if "balance" in can[name]:
                money = clients[name].balance()
                row("balance", name, money.amount > 0, f"{money.amount} {money.unit}")
        pair = _failover_pair(names, classes, numbers)
        if pair is not None:
            first, second = pair
            running.fault(first, "refuse")
            gateway = Gateway([clients[first], clients[second]])
            routed = gateway.send(numbers[first], "Failover hello")
            tried = [a.error for a in routed.attempts if a.provider == first]
            row("failover", f"{first} → {second}", routed.provider == second,
                f"{first} down ({len(tried)} x {tried[0] if tried else '?'}), "
                f"sent via {routed.provider}")
        ledger = len(running.messages())
    out.print(table)
    out.print(f"{ledger} messages reached the sandbox over real sockets on 127.0.0.1.")
    if failures:
        raise SystemExit(1)


def _failover_pair(names: list[str], classes: dict[str, type[Any]],
                   numbers: dict[str, str]) -> tuple[str, str] | None:
    """The first two providers (registry order) where the second reaches the first's number,
    by its declared ``allowed_regions`` (``None``: anywhere)."""
    for first in names:
        region = region_of(numbers[first])
        for second in names:
            reach = getattr(classes[second], "allowed_regions", None)
            if second != first and (reach is None or region in reach):
                return first, second
    return None
