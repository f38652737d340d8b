"""Keep server paths out of what callers see.

Error messages from libraries (pyarrow, the OS) name the files they failed
on: the upload's temporary file, a run's Parquet under the data directory.
Those absolute paths tell a caller how the server is laid out; the file's
own name is all a person needs to act on the message.
"""

from __future__ import annotations

import re
from typing import Any

# An absolute path of two or more segments, starting where a word cannot go on
# (start, space, quote, bracket, '=' or ','); ends at a space, quote or separator.
_SEGMENT = r"[^\s'\"/:,;()\[\]<>]+"
_ABSOLUTE = re.compile(rf"(?:(?<=^)|(?<=[\s'\"(\[=,<]))(?:/{_SEGMENT})+/({_SEGMENT})?")
_FILE_URL = re.compile(r"file://")


def without_paths(text: str) -> str:
    """`text` with every absolute path replaced by its last segment."""
    if "/" not in text:
        # Most strings (labels, amounts, ids) hold no path at all; this test is
        # a fraction of the two regex passes, and job lists scrub thousands.
        return text
    text = _FILE_URL.sub("", text)
    return _ABSOLUTE.sub(lambda m: m.group(1) or "…", text)


def scrub(value: Any) -> Any:
    """`without_paths` over strings, recursively through dicts and lists."""
    if isinstance(value, str):
        return without_paths(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
