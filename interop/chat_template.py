"""Chat templates (the Jinja text a chat model ships with) and prompt building.

Rendered in a sandboxed Jinja environment with the settings transformers uses, so a prompt
is the text the model was tuned on. seqio tasks need the same format as fixed strings
around one user turn: `turn_affixes` derives them from the template itself.
"""
import dataclasses

import jinja2
from jinja2 import sandbox

_SENTINEL = "\x00user-text\x00"


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
  template: str
  source: str = "chat template"

  def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
      compiled = env.from_string(self.template)
    except jinja2.TemplateError as e:
      raise ValueError(f"{self.source}: the chat template does not compile: {e}") from e
    return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt)

  def user_prompt(self, text: str, system: str | None = None) -> str:
    """One user turn (after an optional system turn), ready for the assistant's reply."""
    messages = [{"role": "system", "content": system}] if system else []
    return self.render(messages + [{"role": "user", "content": text}])

  def turn_affixes(self) -> tuple[str, str]:
    """(prefix, suffix) with user_prompt(text) == prefix + text + suffix for any text."""
    rendered = self.user_prompt(_SENTINEL)
    if rendered.count(_SENTINEL) != 1:
      raise ValueError(f"{self.source}: the user text does not appear exactly once in the "
                       "rendered template")
    prefix, suffix = rendered.split(_SENTINEL)
    return prefix, suffix


def prompt_ids(vocabulary, template: ChatTemplate, text: str, system: str | None = None,
               start_id: int = 0) -> list[int]:
  """Token ids of a one-turn chat prompt, led by `start_id`.

  seqio's decoder feature converters shift every training sequence right behind id 0, so a
  model fine-tuned here has always seen id 0 first; prompts begin with it too (for SmolLM2
  id 0 is `<|endoftext|>`, its document separator).
  """
  return [start_id] + list(vocabulary.encode(template.user_prompt(text, system)))
