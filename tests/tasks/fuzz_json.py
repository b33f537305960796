"""Hypothesis strategies for data files: any JSON value, near-valid records (a valid record
with one field swapped for any JSON value or dropped), and bytes that are not JSON; and a
loader run on such bytes."""
import json
import pathlib
import re
import tempfile

from hypothesis import strategies as st

SURROGATE_TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0xD800,
                                                max_codepoint=0xDFFF), min_size=1, max_size=2)
json_text_values = st.text(max_size=12) | SURROGATE_TEXT
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text_values, inner,
                                                                max_size=3),
    max_leaves=8)


@st.composite
def near_valid(draw, valid: dict) -> dict:
  """`valid` with up to two fields (at the top or one level down) replaced or removed."""
  record = json.loads(json.dumps(valid))
  for _ in range(draw(st.integers(1, 2))):
    container = record
    inner = [k for k, v in record.items() if isinstance(v, (dict, list)) and v]
    if inner and draw(st.booleans()):
      value = record[draw(st.sampled_from(inner))]
      container = value[0] if isinstance(value, list) and isinstance(value[0], dict) else value
      if not isinstance(container, dict) or not container:
        container = record
    if not container:
      break
    key = draw(st.sampled_from(sorted(container)))
    if draw(st.booleans()):
      del container[key]
    else:
      container[key] = draw(json_values)
  return record


def dumps(value) -> str:
  """JSON text with non-ASCII characters written raw (U+2028 too, as JSON allows) and lone
  surrogates, which UTF-8 cannot hold, as `\\ud800` escapes."""
  return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}",
                json.dumps(value, ensure_ascii=False))


def raw_files():
  """File contents that may not be JSON or UTF-8 at all."""
  return st.binary(max_size=40) | st.text(max_size=40).map(str.encode)


def load_bytes(content: bytes, file_name: str, load):
  """(path, load(path)) for `content` written to a fresh file, or (path, the ValueError
  `load` raised); the file is gone afterwards."""
  with tempfile.TemporaryDirectory() as directory:
    path = pathlib.Path(directory) / file_name
    path.write_bytes(content)
    try:
      return path, load(path)
    except ValueError as e:
      return path, e
