"""The tool registry: names checked, finish always there, calls never raise."""
import pytest

from tools.registry import FINISH, Tool, ToolRegistry, builtin_registry


def test_builtin_tools_without_a_sandbox_or_retriever():
  assert builtin_registry().names == ("calculator", FINISH)


def test_search_and_lookup_are_taken_from_the_caller():
  registry = builtin_registry(search=str.upper, lookup=str.lower)
  assert registry.names == ("calculator", "search", "lookup", FINISH)
  assert registry.call("search", "paris") == "PARIS"
  assert registry.call("lookup", "DOC-3") == "doc-3"


def test_describe_lists_every_tool_for_the_prompt():
  lines = builtin_registry().describe().splitlines()
  assert [line.split("[")[0] for line in lines] == ["calculator", FINISH]


def test_unknown_tool_names_the_available_ones():
  assert builtin_registry().call("google", "x") == (
      "Unknown tool 'google'. Available tools: calculator, finish.")


def test_failing_tool_is_reported_as_its_observation():
  def broken(argument):
    raise RuntimeError(f"index missing for {argument!r}")
  registry = ToolRegistry([Tool("search", "fails", broken)])
  assert registry.call("search", "q") == "search failed: index missing for 'q'"


@pytest.mark.parametrize("tools,problem", [
    ([Tool("web search", "", str)], "not an identifier"),
    ([Tool("search", "", str), Tool("search", "", str)], "two tools are named 'search'"),
    ([Tool(FINISH, "", str)], "two tools are named 'finish'"),
])
def test_bad_tool_names_are_refused(tools, problem):
  with pytest.raises(ValueError, match=problem):
    ToolRegistry(tools)
