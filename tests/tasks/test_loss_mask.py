"""ReAct trajectories as SFT targets: the tokens the tools write carry a 0 in the loss mask,
the targets and mask are exactly the episode the ReAct loop builds (its token ids and
`model_mask`), and mixtures carry the mask (ones for tasks without one)."""
import itertools

import numpy as np
import pytest
import seqio

import tasks  # noqa: F401  (registers the tool suite)
from models import loss_masked_converter
from tasks import loss_mask
from tasks import tool_suite_tasks
from tasks.tool_suite import entities, trajectory
from tools import react, registry

LENGTHS = {"inputs": 512, "targets": 640}


def react_examples(count: int, split: str = "train"):
  task = seqio.get_mixture_or_task("tool_multi_hop_react")
  ds = task.get_dataset(LENGTHS, split=split, shuffle=False)
  return task, list(ds.take(count).as_numpy_iterator())


def test_the_feature_names_agree():
  assert loss_mask.MASK_FEATURE == loss_masked_converter.MASK_FEATURE


def test_observations_are_masked_and_the_model_text_is_not():
  task, examples = react_examples(8)
  vocabulary = task.output_features["targets"].vocabulary
  for ex in examples:
    ids, mask = ex["targets"], ex[loss_mask.MASK_FEATURE]
    assert len(ids) == len(mask) and mask[-1] == 1 and ids[-1] == vocabulary.eos_id
    text = ex["targets_pretokenized"].decode()
    assert loss_mask.TOGGLE not in text and loss_mask.TOGGLE not in ex[
        "inputs_pretokenized"].decode()
    masked = vocabulary.decode([int(i) for i, m in zip(ids, mask) if not m])
    trained = vocabulary.decode([int(i) for i, m in zip(ids, mask) if m])
    assert masked.count("Thought:") == 3 and "founded in" in masked
    # The documents' wording ("... based in <city>", "<name> was a <occupation>") is only
    # in what the search shows.
    assert "based in" not in trained and " was a" not in trained
    assert trained.count("Action:") == 4 and trained.rstrip().endswith("]")


def _runs(mask):
  """[start, end) of each run of ones."""
  out, position = [], 0
  for value, group in itertools.groupby(mask):
    length = len(list(group))
    if value:
      out.append((position, position + length))
    position += length
  return out


@pytest.mark.parametrize("index", range(4))
def test_targets_and_mask_are_the_react_loops_episode(index):
  """The loop, fed the target's trained tokens as the model's output, appends exactly the
  masked tokens: training sees the token ids the loop builds at evaluation."""
  task, examples = react_examples(index + 1)
  ex = examples[index]
  vocabulary = task.output_features["targets"].vocabulary
  ids = [int(i) for i in ex["targets"][:-1]]  # without EOS (the loop drops it)
  mask = [int(m) for m in ex[loss_mask.MASK_FEATURE][:-1]]
  turns = iter([ids[a:b] for a, b in _runs(mask)])
  by_title = {d["title"]: d for d in entities.documents()}
  tools = registry.builtin_registry(search=lambda q: entities.observation(by_title[q]))
  agent = react.ReactAgent(lambda token_ids, stops: next(turns), vocabulary, tools,
                           instructions=trajectory.INSTRUCTION)
  question = ex["inputs_pretokenized"].decode().split("\nQuestion: ")[1].split("\n")[0]
  trace = agent.run(question)
  assert trace.status == react.FINISHED
  prompt = [int(i) for i in ex["inputs"][:-1]]
  assert trace.token_ids == prompt + ids
  assert trace.model_mask == [0] * len(prompt) + mask


def test_mixtures_carry_the_mask_with_ones_for_unmasked_tasks():
  mixture = seqio.get_mixture_or_task(tool_suite_tasks.SFT_MIXTURE)
  assert isinstance(mixture, loss_mask.LossMaskMixture)
  names = {t.name for t in mixture.tasks}
  assert {"tool_multi_hop_react", "suite_uppercase"} <= names
  ds = mixture.get_dataset(LENGTHS, split="train", shuffle=True, seed=0)
  seen_masked = seen_plain = 0
  for ex in ds.take(200).as_numpy_iterator():
    mask = ex[loss_mask.MASK_FEATURE]
    assert mask.shape == ex["targets"].shape
    if mask.min() == 0:
      seen_masked += 1
    else:
      seen_plain += 1
  assert seen_masked and seen_plain


def test_the_instruction_suite_is_unchanged():
  mixture = seqio.get_mixture_or_task(tasks.DEFAULT_MIXTURE)
  assert type(mixture) is seqio.Mixture
  ex = next(mixture.get_dataset({"inputs": 128, "targets": 32}, split="train",
                                seed=0).as_numpy_iterator())
  assert loss_mask.MASK_FEATURE not in ex
  np.testing.assert_array_equal(ex["targets"][-1:], [1])
