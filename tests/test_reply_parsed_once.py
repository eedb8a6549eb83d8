"""A JSON reply is parsed once per exchange, and the shared parse cannot reach the wrong reader.

The transport parses a JSON reply to decide whether its connection may be reused; the
provider used to parse the same bytes again (issue 22: for a 10,000-number bulk send, ten
50 KB replies parsed twice). :mod:`smsgate._replyjson` hands the transport's parse to the
provider's reader, only for the very bytes object it was made from, once, in the same thread.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import smsgate
from smsgate import _replyjson
from smsgate.providers._base import _json_or_none

from .servers import http_reply, script, serve


def test_the_parse_is_given_for_the_same_bytes_object_only_and_once() -> None:
    content = b'{"messages": [1, 2, 3]}'
    value = _replyjson.parse(content)
    twin = bytes(bytearray(content))  # equal, but another object
    assert twin == content and twin is not content
    assert _replyjson.take(twin) is _replyjson.MISSING
    assert _replyjson.take(content) is value
    assert _replyjson.take(content) is _replyjson.MISSING  # a second reader parses its own
    again = _json_or_none(content)
    assert again == value and again is not value


def test_a_failed_parse_leaves_nothing_behind() -> None:
    content = b'{"a": 1}'
    _replyjson.parse(content)
    with pytest.raises(ValueError):
        _replyjson.parse(b'{"a": ')
    assert _replyjson.take(content) is _replyjson.MISSING


def test_another_thread_does_not_get_this_threads_parse() -> None:
    content = b'{"a": 1}'
    _replyjson.parse(content)
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.append(_replyjson.take(content)))
    worker.start()
    worker.join()
    assert seen == [_replyjson.MISSING]
    assert _replyjson.take(content) == {"a": 1}


def test_a_reader_that_changes_its_value_does_not_change_the_next_readers() -> None:
    content = b'{"messages": []}'
    first = _json_or_none(content)  # parses its own: nothing remembered for these bytes
    _replyjson.parse(content)
    handed = _json_or_none(content)
    handed["messages"].append("changed")
    assert _json_or_none(content) == {"messages": []} == first


def test_a_bulk_send_over_a_socket_parses_each_reply_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = [f"+99555512{i:04d}" for i in range(3)]
    items = [{"messageId": i + 1, "to": n[1:], "success": True} for i, n in enumerate(numbers)]
    body = json.dumps({"success": True, "messages": items}).encode()
    parsed: list[bytes] = []
    real = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, bytes) and text == body:
            parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    received: list[bytes] = []
    with serve(script([http_reply(200, body)], received), read_first=False) as (url, _):
        provider = smsgate.GoSmsGe("parse-once-key-0001", sender="Brand", base_url=url,
                                   timeout=(2.0, 5.0))
        try:
            result = provider.send(numbers, "Hello")
        finally:
            provider.close()
    assert [r.message_id for r in result.recipients] == ["1", "2", "3"]
    assert result.raw["messages"] == items
    assert len(received) == 1
    assert len(parsed) == 1  # the transport's parse, handed to the reader
