"""Reading uploaded zips (model packages, `.keras` archives) and their JSON members without
letting a hostile file crash the reader.

`zipfile` signals a damaged or unusual archive with several exception types (BadZipFile for a
bad CRC or header, NotImplementedError for an unknown compression method, RuntimeError for an
encrypted member), and `json` one more for deep nesting (RecursionError).  These functions turn
each into the caller's own refusal (`refuse(reason)`, an exception to raise) with a reason a
person can act on, so the web layer answers 400, never 500.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
MAX_JSON_DEPTH = 100  # Keras configs nest a few levels per layer and submodel; 100 is far above real ones

Refusal = Callable[[str], Exception]


@contextmanager
def open_zip(path: Path, refuse: Refusal) -> Iterator[zipfile.ZipFile]:
    """An archive whose members are all unencrypted and compressed with a method zipfile has; reading a damaged member
    inside the block (bad CRC, truncated data) raises `refuse(reason)` too."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.flag_bits & 0x1:
                    raise refuse(f"{info.filename} is encrypted; upload an unencrypted zip")
                if info.compress_type not in SUPPORTED_COMPRESSION:
                    raise refuse(
                        f"{info.filename} uses zip compression method {info.compress_type}; accepted: "
                        f"{', '.join(SUPPORTED_COMPRESSION.values())}"
                    )
            yield archive
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise refuse(f"a damaged zip: {exc}") from None
    except NotImplementedError as exc:
        raise refuse(f"a zip feature that is not supported: {exc}") from None


def load_json(data: bytes, refuse: Refusal, what: str) -> Any:
    """Parsed JSON, refused when it is not UTF-8 JSON or nests deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise refuse(f"{what} is nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise refuse(f"{what} is not valid JSON ({exc})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise refuse(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest
