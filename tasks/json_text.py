"""JSON text from data files, decoded so every failure names where it happened.

Beyond malformed JSON, two things `json.loads` accepts would fail far from the file:
`\\ud800`-style escapes of lone surrogates (not characters: the tokenizer and tf.data
cannot encode them) and integers too long for Python to convert. Both are refused here.
"""
import json
from typing import Any


class BadDataError(ValueError):
  """A data file or row that cannot be used; the message names the file (and line)."""


def decode_utf8(data: bytes, where: str) -> str:
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    raise BadDataError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None


def loads(text: str, where: str, one_line: bool = False) -> Any:
  """`json.loads`, with a ValueError naming `where` for bad input (and the line, unless
  `where` names it already: `one_line`)."""
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    at = f"column {e.colno}" if one_line else f"at line {e.lineno}"
    raise BadDataError(f"{where}: malformed JSON {at}: {e.msg}") from None
  except RecursionError:
    raise BadDataError(f"{where}: JSON nested too deeply to read") from None
  except ValueError as e:  # e.g. an integer of more digits than Python converts
    raise BadDataError(f"{where}: unreadable JSON value: {e}") from None
  what = _lone_surrogate_place(value)
  if what is not None:
    raise BadDataError(f"{where}: {what} holds a lone surrogate escape (such as \\ud800), "
                       f"which is not a character")
  return value


def _lone_surrogate_place(value: Any) -> str | None:
  """Which string of `value` has a lone surrogate: "field Instances[3].input", "a key of
  field Instances[3]", "the value" (a bare string) or None.

  Iterative: `json.loads` accepts nesting close to the recursion limit.
  """
  field = lambda path: f"field {path}" if path else "the value"
  stack = [("", value)]
  while stack:
    path, item = stack.pop()
    if isinstance(item, str):
      if not _encodes(item):
        return field(path)
    elif isinstance(item, list):
      stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    elif isinstance(item, dict):
      if not all(_encodes(key) for key in item):
        return f"a key of {field(path) if path else 'the object'}"
      stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(item.items()))
  return None


def _encodes(text: str) -> bool:
  if text.isascii():
    return True
  try:
    text.encode("utf-8")
  except UnicodeEncodeError:
    return False
  return True
