"""Registers the tool-use suite in seqio, apart from `instruct_suite` (whose tasks,
mixtures and vocabulary it leaves as they are).

Names: `tool_<type>` (direct answer), `tool_<type>_fs` (with exemplars), `tool_<type>_cot`
for types with a rationale, and the tool-use targets `tool_large_arithmetic_pal` (a PAL
program), `tool_entity_facts_rag` / `tool_multi_hop_rag` (numbered passages in the input,
the answer and its citations as target) and `tool_multi_hop_react` (the gold ReAct
trajectory), each also `_fs`.
Mixture `tool_suite`: every zero-shot, CoT and tool-use task, examples-proportional; the
ReAct targets leave the text the loop appends (observations) out of the loss
(tasks.loss_mask), so the mixture is a `loss_mask.LossMaskMixture`. Mixture
`tool_suite_sft`: the same tasks with those of an instruction mixture (`instruct_suite`).
Mixture `tool_suite_no_tools`: the direct-answer and CoT tasks, what a model answers
without tools (the evaluation baseline).

Evaluation with tools (trainer/tool_strategies.py) reads the raw examples (question, answer,
gold document ids) of a task's type: `task_type_of`, `tool_task`.
"""
import seqio

from tasks import formats as formats_lib
from tasks import loss_mask
from tasks import mixtures
from tasks import suite_tasks
from tasks import tool_suite
from tasks.suite.base import TaskType

PREFIX = "tool_"
MIXTURE = "tool_suite"
SFT_MIXTURE = "tool_suite_sft"
NO_TOOLS_MIXTURE = "tool_suite_no_tools"
_LOSS_MASKED_SUFFIXES = ("_react",)  # views whose targets mark what the tools write
_DIRECT_TYPES = {task.name: task for task in tool_suite.TASK_TYPES}
_TYPE_OF: dict[str, TaskType] = {}  # every registered name -> its direct-answer task type


def _register(task, fmt: formats_lib.Format, suffix: str = "") -> str:
  name = suite_tasks.register_task(task, fmt, f"{PREFIX}{task.name}{suffix}{fmt.suffix}",
                                   loss_masked=suffix in _LOSS_MASKED_SUFFIXES)
  _TYPE_OF[name] = _DIRECT_TYPES[task.name]
  return name


def task_type_of(task_name: str) -> TaskType | None:
  """The direct-answer task type behind any registered tool-suite task name, else None."""
  return _TYPE_OF.get(task_name)


def tool_task(task_name: str, tool: str) -> str | None:
  """`tool_<type>` (the direct-answer task) when the type of `task_name` has the tool view
  `_<tool>` (rag, pal, react: its examples carry what that tool needs), else None."""
  task_type = task_type_of(task_name)
  if task_type is None or (f"_{tool}", task_type.name) not in {
      (suffix, view.name) for suffix, view in tool_suite.TOOL_VIEWS}:
    return None
  return f"{PREFIX}{task_type.name}"


def direct_task(task_name: str, cot: bool) -> str | None:
  """`tool_<type>` (the direct-answer task) of any tool-suite task name whose type can be
  asked directly (`cot`: with a rationale), else None."""
  task_type = task_type_of(task_name)
  if task_type is None or (cot and not task_type.has_cot):
    return None
  return f"{PREFIX}{task_type.name}"


def register_all() -> tuple[list[str], str]:
  """Returns the task names and the mixture's name."""
  trained, few_shot = [], []
  for task in tool_suite.TASK_TYPES:
    trained.append(_register(task, formats_lib.ZERO_SHOT))
    few_shot.append(_register(task, formats_lib.FEW_SHOT))
    if task.has_cot:
      trained.append(_register(task, formats_lib.COT))
  seqio.MixtureRegistry.add(NO_TOOLS_MIXTURE, list(trained), default_rate=1.0)
  for suffix, task in tool_suite.TOOL_VIEWS:
    trained.append(_register(task, formats_lib.ZERO_SHOT, suffix))
    few_shot.append(_register(task, formats_lib.FEW_SHOT, suffix))
  seqio.MixtureRegistry.add(MIXTURE, trained, default_rate=mixtures.examples_proportional_rate(),
                            mixture_cls=loss_mask.LossMaskMixture)
  return trained + few_shot, MIXTURE


def register_sft_mixture(instruction_mixture: str) -> str:
  """`tool_suite_sft`: the tasks of `instruction_mixture` (registered) and of `tool_suite`,
  examples-proportional."""
  names = [t.name for m in (instruction_mixture, MIXTURE)
           for t in seqio.get_mixture_or_task(m).tasks]
  seqio.MixtureRegistry.add(SFT_MIXTURE, names, default_rate=mixtures.examples_proportional_rate(),
                            mixture_cls=loss_mask.LossMaskMixture)
  return SFT_MIXTURE
