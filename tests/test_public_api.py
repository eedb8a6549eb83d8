from __future__ import annotations
import __future__

import types

import smsgate


def test_all_is_sorted_and_complete() -> None:
    assert list(smsgate.__all__) == sorted(smsgate.__all__)
    assert len(set(smsgate.__all__)) == len(smsgate.__all__)
    # dir(), not vars(): most public names are imported on first use (PEP 562).
    public = {
        name
        for name in dir(smsgate)
        if not name.startswith("_")
        and not isinstance(getattr(smsgate, name), (types.ModuleType, __future__._Feature))
    } | {"__version__"}
    assert set(smsgate.__all__) == public
    for name in smsgate.__all__:
        assert getattr(smsgate, name) is not None


def test_design_contract_names_exist() -> None:
    for name in (
        "SmsProvider", "SendResult", "RecipientResult", "StatusResult", "Balance",
        "DeliveryReport", "Attempt", "RateLimit", "OtpChallenge", "OtpVerification",
        "SegmentInfo", "Message", "Status", "segments", "normalize_phone", "create",
        "available_providers",
    ):
        assert name in smsgate.__all__, name


def test_py_typed_is_shipped() -> None:
    import importlib.resources

    assert importlib.resources.files("smsgate").joinpath("py.typed").is_file()


def test_version() -> None:
    assert smsgate.__version__.count(".") == 2
