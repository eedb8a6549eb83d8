"""smsgate's segment counter as it was before the fast path: the oracle the new one must match.

Kept verbatim (character by character, one cost per character) so that the equivalence tests
and ``benchmarks/`` compare against the same code.
"""

from __future__ import annotations

from smsgate.segments import (
    _BASIC,
    _EXTENSION,
    _GSM_MULTI,
    _GSM_SINGLE,
    _UCS2_MULTI,
    _UCS2_SINGLE,
    GSM7,
    UCS2,
    SegmentInfo,
)


def _gsm_cost(char: str) -> int:
    if char in _BASIC:
        return 1
    if char in _EXTENSION:
        return 2
    return 0


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def reference_segments(text: str) -> SegmentInfo:
    non_gsm: dict[str, None] = {}
    costs: list[int] = []
    for char in text:
        cost = _gsm_cost(char)
        if cost == 0:
            non_gsm[char] = None
        costs.append(cost)
    if non_gsm:
        encoding, single, multi = UCS2, _UCS2_SINGLE, _UCS2_MULTI
        costs = [_utf16_units(char) for char in text]
    else:
        encoding, single, multi = GSM7, _GSM_SINGLE, _GSM_MULTI
    units = sum(costs)
    if units <= single:
        return SegmentInfo(
            encoding=encoding,
            units=units,
            segments=1 if units else 0,
            per_segment=single,
            remaining=single - units,
            non_gsm_chars=tuple(non_gsm),
        )
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts += 1
            used = 0
        used += cost
    return SegmentInfo(
        encoding=encoding,
        units=units,
        segments=parts,
        per_segment=multi,
        remaining=multi - used,
        non_gsm_chars=tuple(non_gsm),
    )
