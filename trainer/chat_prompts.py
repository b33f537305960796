"""Few-shot prompts for a chat model (e.g. SmolLM2-135M-Instruct) in its own chat template.

Each exemplar is a user turn and the assistant's reply, then the question is the last user
turn and the assistant's turn is opened (optionally already begun, e.g. with "Thought:"),
which is the layout an instruction-tuned chat model was tuned on; exemplars run together
inside one turn (the `_fs` tasks' layout) are not. Prompts are tokenized with the chat
model's vocabulary and get no EOS: for a ChatML model the EOS closes a turn, and the
decoder-only prompt starts with id 0 (models' `prompt_inputs` adds it).
"""
import dataclasses
from typing import Sequence

import gin


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ChatPrompts:
  """template: anything with `render(messages, add_generation_prompt)` (interop.ChatTemplate);
  vocabulary: the chat model's (seqio-style: encode, decode, eos_id);
  num_shots: train exemplars before each question; system: a system turn (None: the
  template's default)."""
  template: object
  vocabulary: object
  num_shots: int = 3
  system: str | None = None

  def __post_init__(self):
    if self.num_shots < 0:
      raise ValueError(f"ChatPrompts.num_shots={self.num_shots} must be >= 0")

  def text(self, exemplars: Sequence[tuple[str, str]], question: str,
           reply_start: str = "") -> str:
    """The rendered conversation: exemplar turns, the question, the opened reply."""
    messages = [{"role": "system", "content": self.system}] if self.system else []
    for user, assistant in exemplars:
      messages += [{"role": "user", "content": user},
                   {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": question})
    return self.template.render(messages, add_generation_prompt=True) + reply_start

  def ids(self, text: str, inputs_length: int) -> tuple[list[int], bool]:
    """The prompt's ids within inputs_length and whether it was cut. A long prompt loses its
    beginning (the first exemplar), never the question or the opened reply."""
    ids = [int(i) for i in self.vocabulary.encode(text)]
    return ids[-inputs_length:], len(ids) > inputs_length
