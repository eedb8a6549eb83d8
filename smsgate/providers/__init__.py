"""Provider adapters. Import them from :mod:`smsgate`; these modules are private."""
