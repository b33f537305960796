"""Fuzzed Super-NaturalInstructions task files: a task whose every text encodes, or a
BadDataError naming the file, never another exception."""
import pytest

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks import niv2
from tasks.json_text import BadDataError
from tests.tasks import fuzz_json

VALID = {"Definition": ["Write the opposite."], "Categories": ["Word Relation"],
         "Positive Examples": [{"input": "hot", "output": "cold", "explanation": "x"}],
         "Negative Examples": [{"input": "up", "output": "up", "explanation": "y"}],
         "Instances": [{"id": "t-1", "input": "open", "output": ["closed", "shut"]},
                       {"id": "t-2", "input": "wet", "output": ["dry"]}]}
files = st.one_of(fuzz_json.near_valid(VALID).map(fuzz_json.dumps).map(str.encode),
                  fuzz_json.json_values.map(fuzz_json.dumps).map(str.encode),
                  fuzz_json.raw_files())


def _texts(task):
  yield task.definition
  yield from task.categories
  for ex in task.positive_examples + task.negative_examples:
    yield from ex.values()
  for inst in task.instances:
    yield inst["id"]
    yield inst["input"]
    yield from inst["references"]


@settings(max_examples=300, deadline=1000)
@given(content=files)
@example(content=b'{"Definition": "d", "Positive Examples": [], "Instances": 5}')
@example(content=b'{"Definition": "d", "Positive Examples": [], "Instances": [], '
                 b'"Categories": 3}')
@example(content=b'{"Definition": "\\ud800", "Positive Examples": [], "Instances": []}')
@example(content=b"[" * 100_000)
@example(content=b'{"Definition": ' + b"1" * 5000 + b"}")
def test_task_file_loads_or_fails_naming_the_file(content):
  path, task = fuzz_json.load_bytes(content, "task999_fuzzed.json", niv2.load_task)
  if isinstance(task, ValueError):
    assert isinstance(task, BadDataError) and str(task).startswith(f"{path}:"), task
    return
  for text in _texts(task):
    assert isinstance(text, str)
    text.encode("utf-8")
  assert niv2.encode(task, "x", 1024, len).endswith("Input: x\nOutput:")


def test_non_text_is_refused_not_turned_into_text(tmp_path):
  path = tmp_path / "task998_lists.json"
  path.write_text('{"Definition": [1, {"a": 2}], "Positive Examples": [], "Instances": []}')
  with pytest.raises(BadDataError, match=r"task998_lists.json: field 'Definition' should be "
                                         r"text, got a list holding dict, int"):
    niv2.load_task(path)
