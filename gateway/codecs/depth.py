"""How deeply a JSON text nests, found before it is parsed: a nesting bomb costs one scan.

Parsers stop deep nesting eventually (orjson at 1024 levels, Python's ``json`` at its recursion
limit), but whatever walks or prints the parsed value afterwards recurses too. No firegrid
payload nests more than a few levels, so anything deeper is refused before it is parsed.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A JSON string, escapes included. An unterminated one runs to the end of the text; with the
# possessive loop every string matches at its first quote, so the scan is linear on any input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_STEP = [0] * 256
_STEP[ord("[")], _STEP[ord("]")] = 1, -1


def nesting_depth(text: bytes) -> int:
    """The most brackets open at once outside strings (2 for ``{"t": [1]}``).

    Every loop runs in C: a regex drops the strings, ``translate`` keeps only brackets, and
    the running sum of +1/-1 steps peaks at the depth. 64 KiB of brackets take about a
    millisecond.
    """
    brackets = _STRING.sub(b"", text).translate(_ONE_KIND, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def nesting_exceeds(text: bytes, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit``."""
    # Fewer brackets than the limit cannot nest deeper than it: the common case, in C speed.
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    return nesting_depth(text) > limit
