"""What every JSON value Stairway accepts must be: storable, readable back and re-encodable.

One rule for every request body and every free-form JSON field (incident details, alert
labels and annotations, custom details): at most `MAX_JSON_DEPTH` levels of nested objects and
arrays, no NUL character, no lone UTF-16 surrogate and no NaN or infinite number. PostgreSQL
cannot store the second and third, JSON has no spelling for the last, and deeper nesting breaks
the JSON readers downstream (pydantic stops at 200 levels, Python's parser at about 1,000): a
value that got in would fail later, for everyone who reads it. So it is refused at the door.
"""

import json
import math
from typing import Any

import orjson

MAX_JSON_DEPTH = 32

Path = tuple[str | int, ...]


class UnsafeJson(ValueError):
    """A JSON value Stairway refuses; `path` leads to the offending part."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def loads(raw: bytes | str) -> Any:
    """The JSON value in `raw`, or UnsafeJson naming what is wrong (the path is empty for
    text that is not JSON at all)."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise UnsafeJson((), f"nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise UnsafeJson((), "not valid JSON: not UTF-8") from exc
    except ValueError as exc:
        raise UnsafeJson((), f"not valid JSON: {exc}") from exc
    check(value)
    return value


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "must not contain lone UTF-16 surrogates (such as \\ud800)"
    return None


def check(value: Any, *, depth: int = 0) -> None:
    """Raise UnsafeJson if `value` (parsed JSON, starting `depth` levels down) breaks the rule.

    Iterative, so a value too deep for the rule cannot exhaust the interpreter's stack.
    """
    pending: list[tuple[Any, int, Path]] = [(value, depth, ())]
    while pending:
        item, level, path = pending.pop()
        if isinstance(item, dict):
            if level >= MAX_JSON_DEPTH:
                raise UnsafeJson(path, f"nests deeper than {MAX_JSON_DEPTH} levels")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise UnsafeJson(path, "object keys must be strings")
                problem = _text_problem(key)
                if problem is not None:
                    raise UnsafeJson((*path, key), f"name {problem}")
                pending.append((child, level + 1, (*path, key)))
        elif isinstance(item, list):
            if level >= MAX_JSON_DEPTH:
                raise UnsafeJson(path, f"nests deeper than {MAX_JSON_DEPTH} levels")
            pending.extend((child, level + 1, (*path, i)) for i, child in enumerate(item))
        elif isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                raise UnsafeJson(path, problem)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnsafeJson(path, "must be a finite number (NaN and Infinity are not JSON)")


# What the standard encoder would do with these, the fast one does too: `str()` them.
_AS_BEFORE = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_AS_BEFORE |= orjson.OPT_NON_STR_KEYS


def encode(value: Any) -> bytes:
    """`value` as compact JSON in UTF-8, anything not JSON as its `str()`.

    orjson, a tenth of the standard encoder's time: a page's body and its action links are
    encoded for every page sent. What orjson refuses and a value may still hold (a whole
    number beyond 64 bits, a lone surrogate) goes through the standard encoder, in ASCII.
    """
    try:
        return orjson.dumps(value, default=str, option=_AS_BEFORE)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def dotted(path: Path, root: str = "body") -> str:
    """`path` as the REST API names fields (`details.a.0.b`)."""
    return ".".join(str(p) for p in path) or root


def bracketed(path: Path, root: str = "body") -> str:
    """`path` as the inbound integrations name fields (`alerts[0].labels.a`)."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name or root
