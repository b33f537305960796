"""PAL: the program comes out of the generation, runs in the real sandbox, and failures are
recorded per example."""
import pytest

from tests.tools.sandbox_marks import needs_bwrap
from tools import pal
from tools.sandbox import Limits, Sandbox


@pytest.fixture(scope="module")
def sandbox():
  return Sandbox(Limits(cpu_seconds=1, wall_seconds=3.0, memory_bytes=256 << 20))


@pytest.mark.parametrize("generation,program", [
    ("Let me compute.\n```python\nprint(2 + 2)\n```\nThe answer is 4.", "print(2 + 2)"),
    ("```py\nx = 1\n```", "x = 1"),
    ("```\nprint(1)\n```\n```python\nprint(2)\n```", "print(1)"),
    ("```Python\ndef solution():\n    return 3\n", "def solution():\n    return 3"),
    ("def solution():\n    return 3\n", "def solution():\n    return 3"),
])
def test_extract_program(generation, program):
  assert pal.extract_program(generation) == program


@needs_bwrap
def test_solution_value_answers_the_large_number_problem(sandbox):
  generation = ("```python\ndef solution():\n    apples = 9283\n    price = 31231.231\n"
                "    return apples * price\n```")
  outcome = pal.solve(generation, sandbox)
  assert outcome.status == "ok" and outcome.answer == str(9283 * 31231.231)
  assert outcome.sandbox.exit_code == 0


@needs_bwrap
def test_printed_output_answers_a_raw_program(sandbox):
  outcome = pal.solve("total = sum(range(101))\nprint(total)", sandbox)
  assert outcome.status == "ok" and outcome.answer == "5050"


def test_program_that_does_not_parse_is_a_recorded_failure_without_running():
  outcome = pal.solve("```python\ndef solution(:\n    return 1\n```",
                      Sandbox(bwrap="/nonexistent/bwrap"))
  assert outcome.status == pal.SYNTAX_ERROR and outcome.answer is None
  assert outcome.sandbox is None and "line 1" in outcome.detail


def test_empty_generation_is_a_recorded_failure():
  outcome = pal.solve("```python\n```", Sandbox(bwrap="/nonexistent/bwrap"))
  assert outcome.status == pal.EMPTY_PROGRAM and outcome.sandbox is None


@needs_bwrap
def test_runtime_failure_is_recorded_and_serialisable(sandbox):
  outcome = pal.solve("```python\ndef solution():\n    return [1, 2][5]\n```", sandbox)
  assert outcome.status == "error" and outcome.answer is None
  assert outcome.detail.startswith("IndexError")
  assert outcome.to_json()["sandbox"]["status"] == "error"


def test_unavailable_sandbox_is_a_recorded_failure_not_a_fallback():
  outcome = pal.solve("print(1)", Sandbox(bwrap="/nonexistent/bwrap"))
  assert outcome.status == "sandbox_unavailable" and outcome.answer is None
  assert "bubblewrap" in outcome.detail
