"""Fuzzed comparison JSONL: comparisons the reward model can use, or a ValueError naming
the file and line, never another exception; any valid comparison survives a round trip,
whatever characters its text holds."""
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks import comparisons
from tests.tasks import fuzz_json

RANKED = {"prompt": "What is 2 plus 3?", "responses": ["5", "6", "five"], "ranks": [0, 2, 1],
          "finished": [True, True, False], "response_ids": [[7, 1], [8, 1], [9, 10]],
          "demonstration": "5", "demonstration_index": 0, "task": "addition"}
PAIR = {"prompt": "Say hi.", "chosen": "hi", "rejected": "", "finished": [True, False]}
rows = st.one_of(fuzz_json.near_valid(RANKED), fuzz_json.near_valid(PAIR),
                 fuzz_json.json_values)
lines = st.one_of(rows.map(fuzz_json.dumps), st.sampled_from(["", "  ", "{", "[]", "\r"]))
files = st.one_of(st.lists(lines, max_size=4).map("\n".join).map(str.encode),
                  fuzz_json.raw_files())
FUZZ = settings(max_examples=300, deadline=1000)


def _read(content: bytes):
  return fuzz_json.load_bytes(content, "comparisons.jsonl", comparisons.read_jsonl)


def _check_usable(c: comparisons.Comparison):
  k = len(c.responses)
  assert comparisons.MIN_RESPONSES <= k <= comparisons.MAX_RESPONSES and c.pairs()
  for text in (c.prompt, *c.responses, c.meta.get("demonstration", "")):
    text.encode("utf-8")
  assert len(c.ranks) == k and all(0 <= r <= comparisons.INT32_MAX for r in c.ranks)
  assert all(isinstance(f, bool) for f in c.meta.get("finished", [True] * k))
  assert len(c.meta.get("finished", [True] * k)) == k
  assert len(c.meta.get("response_ids", [[1]] * k)) == k
  assert c.meta.get("demonstration_index") in (None, *range(k))


@FUZZ
@given(content=files)
@example(content=b'{"prompt": "p", "responses": ["a", "b"], "ranks": [-1, 0]}')
@example(content=b'{"prompt": "p", "responses": ["a", "b"], "ranks": [0, 2147483648]}')
@example(content=b'{"prompt": "p", "chosen": "a", "rejected": "b", "finished": [true]}')
@example(content=b'{"prompt": "p", "chosen": "a", "rejected": "b", "finished": "no"}')
@example(content=b'{"prompt": "p", "chosen": "a", "rejected": "b", "demonstration": 5}')
@example(content=b'{"prompt": "p", "chosen": "a", "rejected": "b", "response_ids": [[1]]}')
@example(content=b'{"prompt": "p", "chosen": "a", "rejected": "b", '
                 b'"demonstration_index": 2}')
@example(content=b'{"prompt": "\\udc00", "chosen": "a", "rejected": "b"}')
@example(content=b'\n\n{"prompt": ' + b"[" * 100_000)
def test_file_loads_usable_comparisons_or_fails_naming_file_and_line(content):
  path, result = _read(content)
  if isinstance(result, ValueError):
    assert str(result).startswith(f"{path}:")
    return
  loaded, skipped = result
  for c in loaded:
    _check_usable(c)
  assert skipped.total >= 0


texts = st.text(max_size=12)  # any character, U+2028, U+0085 and "\r" included


@FUZZ
@given(prompt=texts, responses=st.lists(texts, min_size=2, max_size=comparisons.MAX_RESPONSES),
       data=st.data())
@example(prompt="a\u2028b", responses=["\x85", "\r"], data=None)
def test_any_valid_comparison_round_trips(prompt, responses, data):
  ranks = (list(range(len(responses))) if data is None else
           data.draw(st.lists(st.integers(0, 3), min_size=len(responses),
                              max_size=len(responses))))
  row = {"prompt": prompt, "responses": responses, "ranks": ranks}
  _, result = _read((json.dumps(row, ensure_ascii=False) + "\n").encode())
  assert not isinstance(result, ValueError), result
  loaded, skipped = result
  if len(set(ranks)) == 1:
    assert not loaded and skipped.only_ties == 1
  else:
    assert [c.to_json() for c in loaded] == [row]
