"""The provider pages' error tables match the adapters' error-table data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsgate.providers._base import ErrorSpec
from smsgate.providers.gosms_ge import GOSMS_GE_ERRORS
from smsgate.providers.gosms_ro import GOSMS_RO_ERRORS
from smsgate.providers.smsgist import SMSGIST_ERRORS
from smsgate.providers.smsoffice_ge import SMSOFFICE_GE_ERRORS

DOCS = Path(__file__).parent.parent / "docs" / "providers"
ROW = re.compile(r"^\| `(?P<code>[^`]+)` \| `(?P<error>\w+)` \|", re.MULTILINE)


@pytest.mark.parametrize(
    ("page", "table"),
    [("gosms-ge.md", GOSMS_GE_ERRORS), ("smsoffice-ge.md", SMSOFFICE_GE_ERRORS),
     ("gosms-ro.md", GOSMS_RO_ERRORS), ("smsgist.md", SMSGIST_ERRORS)],
)
def test_error_table_in_docs_matches_data(page: str, table: dict[int | str, ErrorSpec]) -> None:
    rows = {m["code"]: m["error"] for m in ROW.finditer((DOCS / page).read_text())}
    assert rows == {str(code): spec.error.__name__ for code, spec in table.items()}
