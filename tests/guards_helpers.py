"""Providers that count their HTTP requests, and numbers of each kind, for the guard tests."""

from __future__ import annotations

import json
import random

import phonenumbers

import smsgate
from smsgate.guards import number_type
from smsgate.providers import HttpRequest, HttpResponse
from smsgate.testing import MockTransport

GOOD = "+995555123456"  # a Georgian mobile number
GOOD_2 = "+40722123456"  # a Romanian mobile number


def ok(request: HttpRequest) -> HttpResponse:
    """GoSMS.ro's success reply, for every request."""
    body = {"success": True, "messageId": "m-1", "balanceDeduction": "0.03", "currency": "EUR"}
    return HttpResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


def counted(**options: object) -> tuple[smsgate.GoSmsRo, MockTransport]:
    """A real GoSMS.ro adapter (it reaches every country) whose requests are counted."""
    transport = MockTransport(ok)
    provider = smsgate.GoSmsRo("CANARY-T-guards-5e1f", base_url="https://unused.invalid",
                               transport=transport, **options)  # type: ignore[arg-type]
    return provider, transport


def example(region: str, kind: phonenumbers.PhoneNumberType) -> str:
    found = phonenumbers.example_number_for_type(region, kind)
    assert found is not None, (region, kind)
    return str(phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164))


def random_mobiles(rng: random.Random, regions: tuple[str, ...], count: int,
                   avoid: frozenset[str] = frozenset()) -> list[str]:
    """``count`` distinct valid mobile numbers of ``regions``, spread at random over each
    region's mobile ranges (the example number's first national digit kept, the rest drawn
    at random, kept when libphonenumber calls the number a valid mobile of that region)."""
    found: dict[str, None] = {}
    templates = [(r, example(r, phonenumbers.PhoneNumberType.MOBILE)) for r in regions]
    while len(found) < count:
        region, template = rng.choice(templates)
        code = str(phonenumbers.parse(template).country_code)
        national = template[1 + len(code):]
        digits = national[0] + "".join(rng.choice("0123456789")
                                       for _ in range(len(national) - 1))
        number = f"+{code}{digits}"
        parsed = phonenumbers.parse(number)
        if (
            number not in avoid
            and phonenumbers.is_valid_number(parsed)
            and phonenumbers.region_code_for_number(parsed) == region
            and number_type(number) in ("mobile", "fixed_line_or_mobile")
        ):
            found[number] = None
    return list(found)
