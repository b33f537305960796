"""The tools a model may call by name: each reads its argument as text and answers with the
observation as text.

Built in: `calculator` (exact arithmetic, `tools.calculator`), `python` (a program run in the
sandbox, `tools.sandbox`) and `finish` (the answer; the ReAct loop ends on it). Search and
lookup over a document collection come from the retrieval code as plain functions of a
string, passed to `builtin_registry`.
"""
import dataclasses
import re
from typing import Callable, Iterable

from tools import calculator
from tools import pal
from tools.sandbox import Sandbox

FINISH = "finish"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclasses.dataclass(frozen=True)
class Tool:
  """name[argument] in the model's actions; description: one line for the prompt."""
  name: str
  description: str
  function: Callable[[str], str]


class ToolRegistry:
  """Tools by name; `finish` is always among them. `call` never raises: an unknown name, or a
  tool that fails, is an observation saying so."""

  def __init__(self, tools: Iterable[Tool]):
    self._tools: dict[str, Tool] = {}
    for tool in (*tools, _finish_tool()):
      if not _NAME.match(tool.name):
        raise ValueError(f"tool name {tool.name!r} is not an identifier (letters, digits, _)")
      if tool.name in self._tools:
        raise ValueError(f"two tools are named {tool.name!r}")
      self._tools[tool.name] = tool

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(self._tools)

  def __contains__(self, name: str) -> bool:
    return name in self._tools

  def describe(self) -> str:
    """One line per tool, `name[argument]: description`, for the prompt."""
    return "\n".join(f"{tool.name}[...]: {tool.description}" for tool in self._tools.values())

  def call(self, name: str, argument: str) -> str:
    if name not in self._tools:
      return f"Unknown tool {name!r}. Available tools: {', '.join(self.names)}."
    try:
      return self._tools[name].function(argument)
    except Exception as error:  # a tool's failure is what the model observes, never a crash
      return f"{name} failed: {error}"


def builtin_registry(*, sandbox: Sandbox | None = None,
                     search: Callable[[str], str] | None = None,
                     lookup: Callable[[str], str] | None = None,
                     extra_tools: Iterable[Tool] = ()) -> ToolRegistry:
  """calculator, python (when a sandbox is given), search and lookup (when given), any extra
  tools, and finish."""
  tools = [Tool("calculator", "the exact value of an arithmetic expression, e.g. "
                "calculator[9283 * 31231.231]", calculator.calculate)]
  if sandbox is not None:
    tools.append(Tool("python", "runs a Python program and shows what it prints (or what its "
                      "solution() returns)", lambda program: _run_python(sandbox, program)))
  if search is not None:
    tools.append(Tool("search", "the passages of the document collection that best match the "
                      "query, with their ids", search))
  if lookup is not None:
    tools.append(Tool("lookup", "the passage of the document collection with this id or title",
                      lookup))
  return ToolRegistry([*tools, *extra_tools])


def _finish_tool() -> Tool:
  return Tool(FINISH, "ends with this as the answer", lambda answer: answer)


def _run_python(sandbox: Sandbox, program: str) -> str:
  outcome = pal.solve(program, sandbox)
  if outcome.status == "ok":
    return outcome.answer or "(the program printed nothing)"
  return f"{outcome.status}: {outcome.detail}"
