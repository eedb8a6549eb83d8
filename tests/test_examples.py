"""Every example script runs green against the sandbox and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .redis_server import redis_executable

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))

#: A line each example must print when it works (exit code 0 alone proves little).
EXPECTED = {
    "async_redis_stores.py": "second run: 20 answered from their claims, 0 requests",
    "async_web_handler.py": "with GOSMS.GE down -> 200 sent via smsoffice.ge",
    "bulk_from_csv.py": "sent 199, failed 1",
    "celery_fleet.py": "delivered again: unknown, 0 requests",
    "crash_safe_bulk.py": "after reconcile: 5 of 5 sent, 0 requests",
    "django_app.py": "the same callback again answered 403 (a replay)",
    "failover.py": "with GOSMS.GE down: smsoffice.ge",
    "gosms_ge.py": "OTP valid: True",
    "gosms_ro.py": "cost 0.06 EUR",
    "memory_provider.py": "DeliveryUnknown: do NOT resend blindly",
    "observability.py": "smsoffice.ge #1 accepted (rule accepted, failover",
    "routing.py": "refused before sending: no route",
    "send_guards.py": "estimate 0.06 EUR (2 parts), billed 0.06 EUR",
    "send_one.py": "gosms.ge accepted it",
    "smsgist.py": "+233245979999 failed Number not reachable",
    "smsoffice_ge.py": "+995599123456 delivered",
    "swap_by_config.py": "sent via smsoffice.ge",
    "webhook_receiver.py": "to +233245979999 -> failed",
}


#: Examples whose sample data includes a failure on purpose exit non-zero, as a script in a
#: pipeline should.
EXPECTED_EXIT = {"bulk_from_csv.py": 1}
#: Examples that start a throwaway redis-server: they skip without one (fail under CI=true).
NEEDS_REDIS = {"async_redis_stores.py"}


def test_every_example_has_an_expectation() -> None:
    assert {p.name for p in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    if script.name in NEEDS_REDIS:
        redis_executable()
    env = {**os.environ, "SMSGATE_SANDBOX": "1"}
    env.pop("SMSGATE_URL", None)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == EXPECTED_EXIT.get(script.name, 0), done.stderr
    assert EXPECTED[script.name] in done.stdout, done.stdout


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_without_its_environment_says_what_to_set(script: Path) -> None:
    """Run with no credentials and no sandbox: one friendly line, never a traceback."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SMSGATE_", "GOSMS", "SMSOFFICE", "SMSGIST"))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env, check=False, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode != 0:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "SMSGATE_SANDBOX=1" in done.stderr
