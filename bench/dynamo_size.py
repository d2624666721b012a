"""DynamoDB item sizes and request units by the published rules, for what moto does not price.

Item size: each attribute's UTF-8 name length plus its value's size; strings by UTF-8 length, numbers
about one byte per two significant digits plus one, booleans and nulls one byte, maps and lists three
bytes plus one byte and the size of each element. A write costs one write request unit per 1 KB of
the item (two in a transaction), a strongly consistent read one read request unit per 4 KB, an
eventually consistent read (every GSI query) half that.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any


def value_size(value: Mapping[str, Any]) -> int:
    kind, content = next(iter(value.items()))
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return _number_size(str(content))
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else len(base64.b64decode(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in content.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in content)
    if kind == "NS":
        return sum(_number_size(n) for n in content)
    if kind == "BS":
        return sum(len(b) for b in content)
    raise ValueError(f"unknown attribute type {kind}")


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0") or "0"
    return (len(digits.split("e")[0].split("E")[0]) + 1) // 2 + 1


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    return max(1, math.ceil(size / 1024)) * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / 4096)) * (2 if transactional else 1)
    return float(units) if consistent or transactional else units / 2
