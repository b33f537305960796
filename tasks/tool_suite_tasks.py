"""Registers the tool-use suite in seqio, apart from `instruct_suite` (whose tasks,
mixtures and vocabulary it leaves as they are).

Names: `tool_<type>` (direct answer), `tool_<type>_fs` (with exemplars), `tool_<type>_cot`
for types with a rationale, and the tool-use targets `tool_large_arithmetic_pal` (a PAL
program), `tool_entity_facts_rag` / `tool_multi_hop_rag` (numbered passages in the input,
the answer and its citations as target) and `tool_multi_hop_react` (the gold ReAct
trajectory), each also `_fs`.
Mixture `tool_suite`: every zero-shot, CoT and tool-use task, examples-proportional.
"""
import seqio

from tasks import formats as formats_lib
from tasks import mixtures
from tasks import suite_tasks
from tasks import tool_suite

PREFIX = "tool_"
MIXTURE = "tool_suite"


def _register(task, fmt: formats_lib.Format, suffix: str = "") -> str:
  return suite_tasks.register_task(task, fmt, f"{PREFIX}{task.name}{suffix}{fmt.suffix}")


def register_all() -> tuple[list[str], str]:
  """Returns the task names and the mixture's name."""
  trained, few_shot = [], []
  for task in tool_suite.TASK_TYPES:
    trained.append(_register(task, formats_lib.ZERO_SHOT))
    few_shot.append(_register(task, formats_lib.FEW_SHOT))
    if task.has_cot:
      trained.append(_register(task, formats_lib.COT))
  for suffix, task in tool_suite.TOOL_VIEWS:
    trained.append(_register(task, formats_lib.ZERO_SHOT, suffix))
    few_shot.append(_register(task, formats_lib.FEW_SHOT, suffix))
  seqio.MixtureRegistry.add(MIXTURE, trained, default_rate=mixtures.examples_proportional_rate())
  return trained + few_shot, MIXTURE
