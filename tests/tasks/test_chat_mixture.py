"""tasks/chat_mixture: a mixture's tasks re-registered inside one user turn of a chat template."""
import seqio

import tasks  # registers the suite's tasks and mixtures  # pylint: disable=unused-import
from tasks import chat_mixture, vocab


class BracketTemplate:
  """Any object with turn_affixes() serves (interop.chat_template.ChatTemplate is one)."""

  def turn_affixes(self):
    return "<user>", "</user><assistant>"


def test_every_task_of_the_mixture_gets_a_wrapped_twin():
  name = chat_mixture.register_chat_mixture("instruct_suite_heldout_nli", vocab.byte_vocabulary(),
                                            BracketTemplate(), "brackets")
  assert name == "instruct_suite_heldout_nli_brackets"
  assert chat_mixture.register_chat_mixture("instruct_suite_heldout_nli", vocab.byte_vocabulary(),
                                            BracketTemplate(), "brackets") == name
  original = seqio.get_mixture_or_task("instruct_suite_heldout_nli")
  twins = seqio.get_mixture_or_task(name).tasks
  assert sorted(t.name for t in twins) == sorted(f"{t.name}_brackets" for t in original.tasks)
  example = next(iter(twins[0].get_dataset(None, split="train", shuffle=False)))
  text = example["inputs_pretokenized"].numpy().decode()
  assert text.startswith("<user>") and text.endswith("</user><assistant>")
  byte_vocab = vocab.byte_vocabulary()
  assert byte_vocab.decode(example["inputs"].numpy().tolist()) == text
  assert example["targets"].numpy()[-1] == byte_vocab.eos_id


def test_a_task_becomes_its_twin_task_with_the_metrics():
  name = chat_mixture.register_chat_mixture("suite_parity_rank", vocab.byte_vocabulary(),
                                            BracketTemplate(), "brackets")
  assert name == "suite_parity_rank_brackets"
  twin = seqio.get_mixture_or_task(name)
  assert isinstance(twin, seqio.Task)
  assert twin.metric_fns == seqio.get_mixture_or_task("suite_parity_rank").metric_fns
  assert chat_mixture.register_chat_mixture("suite_parity_rank", vocab.byte_vocabulary(),
                                            BracketTemplate(), "brackets") == name
