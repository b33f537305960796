"""Program-aided answers (PAL, Gao et al. 2023): the model writes a program, the sandbox runs it.

The program is the first fenced code block of the generation (```python, ```py or a bare
fence; an unclosed fence runs to the end, as a generation cut at its length limit leaves it),
else the whole generation. Its answer is what `solution()` returns when it defines one, else
what it prints. A program that does not parse is a failure of that example, recorded without
starting the sandbox.
"""
import ast
import dataclasses
import re

from tools.sandbox import Sandbox, SandboxResult

SYNTAX_ERROR = "syntax_error"
EMPTY_PROGRAM = "empty_program"
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class PalOutcome:
  """status: a sandbox status (`ok`, `error`, `timeout`, ...) or `syntax_error` /
  `empty_program`; answer: the program's answer on `ok`, else None."""
  program: str
  status: str
  answer: str | None
  detail: str
  sandbox: SandboxResult | None

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def extract_program(generation: str) -> str:
  """The program in a model's generation (see the module docstring)."""
  fenced = _FENCE.search(generation)
  program = fenced.group(1) if fenced else generation
  return program.strip("\n")


def solve(generation: str, sandbox: Sandbox) -> PalOutcome:
  """Extracts the program from `generation`, checks that it parses, and runs it."""
  program = extract_program(generation)
  if not program.strip():
    return PalOutcome(program, EMPTY_PROGRAM, None, "the generation holds no program", None)
  try:
    ast.parse(program)
  except SyntaxError as error:
    return PalOutcome(program, SYNTAX_ERROR, None,
                      f"line {error.lineno}: {error.msg}", None)
  result = sandbox.run(program)
  return PalOutcome(program, result.status, result.answer, result.detail, result)
