"""smsgate: send SMS through many gateways behind one safe, typed interface.

>>> import smsgate
>>> smsgate.segments("Hello!").segments
1
>>> smsgate.normalize_phone("555 12 34 56", region="GE")
'+995555123456'

Public names are re-exported here; the modules behind them are private.
"""

from __future__ import annotations

from . import webhooks as webhooks  # smsgate.webhooks.parse after `import smsgate`
from ._protocol import CAPABILITIES, SmsProvider
from ._secrets import install_filters as _install_filters
from ._version import __version__
from .bulk import BulkReport, send_many
from .config import from_config, from_env, from_url
from .errors import (
    AllProvidersFailed,
    AuthenticationError,
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
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientRejected,
    SenderRejected,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
    WebhookError,
)
from .gateway import BreakerPolicy, Gateway, RetryPolicy
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
from .segments import SegmentInfo, segments

__all__ = [
    "AllProvidersFailed",
    "Attempt",
    "AuthenticationError",
    "Balance",
    "BreakerPolicy",
    "BulkReport",
    "CAPABILITIES",
    "ConfigurationError",
    "ConnectError",
    "DeliveryReport",
    "DeliveryUnknown",
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
    "ProviderError",
    "ProviderUnavailable",
    "RateLimit",
    "RateLimited",
    "RecipientRejected",
    "RecipientResult",
    "RecipientStatus",
    "RetryPolicy",
    "SegmentInfo",
    "SendResult",
    "SenderRejected",
    "SmsGateError",
    "SmsGist",
    "SmsOfficeGe",
    "SmsProvider",
    "Status",
    "StatusResult",
    "UnsupportedFeature",
    "ValidationError",
    "WebhookError",
    "__version__",
    "available_providers",
    "create",
    "from_config",
    "from_env",
    "from_url",
    "mask_phone",
    "normalize_phone",
    "register_provider",
    "segments",
    "send_many",
]

# Credentials must never reach a log line, urllib3's DEBUG request lines included.
_install_filters()
