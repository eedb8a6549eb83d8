"""smsgate: send SMS through many gateways behind one safe, typed interface.

>>> import smsgate
>>> smsgate.segments("Hello!").segments
1
>>> smsgate.normalize_phone("555 12 34 56", region="GE")
'+995555123456'

Public names are re-exported here; the modules behind them are private.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._secrets import install_filters as _install_filters
from ._version import __version__
from .errors import (
    AllProvidersFailed,
    AuthenticationError,
    BudgetExceeded,
    ConfigurationError,
    ConnectError,
    DeliveryUnknown,
    InsufficientFunds,
    InvalidPhoneNumber,
    InvalidRequest,
    InvalidResponse,
    InvalidSender,
    MessageTooLong,
    NotFound,
    OtpAlreadyUsed,
    OtpError,
    OtpExpired,
    PolicyViolation,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientRejected,
    SenderRejected,
    SmsGateError,
    Suppressed,
    UnsupportedFeature,
    ValidationError,
    WebhookError,
)

# segments() is eager: the module smsgate.segments shares its name, and importing that module
# later (every adapter does) would otherwise bind the module, not the function, here.
from .segments import SegmentInfo, segments

if _typing.TYPE_CHECKING:
    from . import webhooks as webhooks  # smsgate.webhooks.parse after `import smsgate`
    from ._observe import AttemptInfo
    from ._protocol import CAPABILITIES, SmsProvider
    from ._reconcile import ReconcileReport, reconcile
    from ._wire import Transport
    from .bulk import BulkReport, send_many
    from .config import from_config, from_env, from_url
    from .gateway import BreakerPolicy, Gateway, RetryPolicy
    from .guards import Estimate, Price, PriceTable, QuietHours, SendPolicy, SpendLimit, estimate
    from .models import (
        Attempt,
        Balance,
        DeliveryReport,
        Message,
        OtpChallenge,
        OtpVerification,
        RateLimit,
        RecipientResult,
        RecipientStatus,
        SendResult,
        Status,
        StatusResult,
    )
    from .phone import mask_phone, normalize_phone
    from .providers.gosms_ge import GoSmsGe
    from .providers.gosms_ro import GoSmsRo
    from .providers.smsgist import SmsGist
    from .providers.smsoffice_ge import SmsOfficeGe
    from .registry import available_providers, create, register_provider

__all__ = [
    "AllProvidersFailed",
    "Attempt",
    "AttemptInfo",
    "AuthenticationError",
    "Balance",
    "BreakerPolicy",
    "BudgetExceeded",
    "BulkReport",
    "CAPABILITIES",
    "ConfigurationError",
    "ConnectError",
    "DeliveryReport",
    "DeliveryUnknown",
    "Estimate",
    "Gateway",
    "GoSmsGe",
    "GoSmsRo",
    "InsufficientFunds",
    "InvalidPhoneNumber",
    "InvalidRequest",
    "InvalidResponse",
    "InvalidSender",
    "Message",
    "MessageTooLong",
    "NotFound",
    "OtpAlreadyUsed",
    "OtpChallenge",
    "OtpError",
    "OtpExpired",
    "OtpVerification",
    "PolicyViolation",
    "Price",
    "PriceTable",
    "ProviderError",
    "ProviderUnavailable",
    "QuietHours",
    "RateLimit",
    "RateLimited",
    "RecipientRejected",
    "RecipientResult",
    "RecipientStatus",
    "ReconcileReport",
    "RetryPolicy",
    "SegmentInfo",
    "SendPolicy",
    "SendResult",
    "SenderRejected",
    "SmsGateError",
    "SmsGist",
    "SmsOfficeGe",
    "SmsProvider",
    "SpendLimit",
    "Status",
    "StatusResult",
    "Suppressed",
    "Transport",
    "UnsupportedFeature",
    "ValidationError",
    "WebhookError",
    "__version__",
    "available_providers",
    "create",
    "estimate",
    "from_config",
    "from_env",
    "from_url",
    "mask_phone",
    "normalize_phone",
    "reconcile",
    "register_provider",
    "segments",
    "send_many",
]

# Everything else is imported on first use (PEP 562): `import smsgate` loads neither requests
# nor libphonenumber, cattrs, importlib.metadata, the adapters or the CLI until a name that
# needs them is touched. Name -> the module that defines it ("" for the submodule itself).
_LAZY: _typing.Final[dict[str, str]] = {
    "Attempt": ".models",
    "AttemptInfo": "._observe",
    "Balance": ".models",
    "BreakerPolicy": ".gateway",
    "BulkReport": ".bulk",
    "CAPABILITIES": "._protocol",
    "DeliveryReport": ".models",
    "Estimate": ".guards",
    "Gateway": ".gateway",
    "GoSmsGe": ".providers.gosms_ge",
    "GoSmsRo": ".providers.gosms_ro",
    "Message": ".models",
    "OtpChallenge": ".models",
    "OtpVerification": ".models",
    "Price": ".guards",
    "PriceTable": ".guards",
    "QuietHours": ".guards",
    "RateLimit": ".models",
    "RecipientResult": ".models",
    "RecipientStatus": ".models",
    "ReconcileReport": "._reconcile",
    "RetryPolicy": ".gateway",
    "SendPolicy": ".guards",
    "SendResult": ".models",
    "SmsGist": ".providers.smsgist",
    "SmsOfficeGe": ".providers.smsoffice_ge",
    "SmsProvider": "._protocol",
    "SpendLimit": ".guards",
    "Status": ".models",
    "StatusResult": ".models",
    "Transport": "._wire",
    "available_providers": ".registry",
    "create": ".registry",
    "estimate": ".guards",
    "from_config": ".config",
    "from_env": ".config",
    "from_url": ".config",
    "mask_phone": ".phone",
    "normalize_phone": ".phone",
    "reconcile": "._reconcile",
    "register_provider": ".registry",
    "send_many": ".bulk",
    "webhooks": "",
}
# Submodules that `import smsgate` used to load as a side effect; still reachable as attributes.
_SUBMODULES: _typing.Final = frozenset(
    {"bulk", "config", "gateway", "guards", "models", "phone", "providers", "registry"}
)


# Hidden from type checkers, which see the real imports above: a typo such as
# smsgate.Gatway stays an error for them instead of becoming an `object`.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module_name = _LAZY.get(name)
        if module_name is None:
            if name not in _SUBMODULES:
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
            module_name = ""
        module = _importlib.import_module(module_name or f".{name}", __name__)
        value = module if not module_name else getattr(module, name)
        globals()[name] = value  # later look-ups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Credentials must never reach a log line, urllib3's DEBUG request lines included.
_install_filters()
