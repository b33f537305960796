"""FLAN-style templates: an input pattern and a target pattern over an example's fields.

Patterns use `str.format` fields (`{premise}`); `{options_}` is where the answer options go.
A template that names a field the example lacks fails with an error that names the task,
the template and the field, so a typo in a template never renders as an empty string; a
pattern `str.format` cannot apply (a lone brace, a positional `{0}`, a format spec that does
not suit the value) fails with `TemplatePatternError`, naming the same and the pattern.
"""
import dataclasses
import re
import string
from typing import Any, Mapping

OPTIONS_FIELD = "options_"
ANSWER_PHRASE = "So the answer is"
_ANSWER_RE = re.compile(re.escape(ANSWER_PHRASE) + r"\s*(.+?)\s*\.?\s*$", re.DOTALL)


class TemplateFieldError(KeyError):
  """A template names a field that the example does not have."""

  def __str__(self):
    return self.args[0]


class TemplatePatternError(ValueError):
  """A template pattern that `str.format` cannot apply to the example."""


@dataclasses.dataclass(frozen=True)
class Template:
  """One way of asking for a task.

  inverted: the template turns the task around (e.g. from a label, write a text with it).
  cot: the target is a rationale followed by `ANSWER_PHRASE <answer>.`
  """
  input: str
  target: str
  inverted: bool = False
  cot: bool = False

  def fields(self, where: str = "template") -> set[str]:
    names = set()
    for pattern in (self.input, self.target):
      try:
        names.update(name for _, name, _, _ in string.Formatter().parse(pattern) if name)
      except ValueError as e:
        raise TemplatePatternError(f"{where}: pattern {pattern!r}: {e}") from None
    return names


def _format(pattern: str, values: Mapping[str, Any], where: str) -> str:
  try:
    return pattern.format_map(values)
  except KeyError as e:
    raise TemplateFieldError(
        f"{where}: template names field {e.args[0]!r}, which the example does not have "
        f"(it has {sorted(values)})") from None
  # `{x.attr}`, `{x[0]}` and format specs reach into the value: these fail on values
  # that lack what the pattern asks for.
  except (ValueError, TypeError, AttributeError, IndexError) as e:
    raise TemplatePatternError(f"{where}: pattern {pattern!r}: {type(e).__name__}: {e}"
                               ) from None


def render(template: Template, example: Mapping[str, Any], options_text: str = "",
           where: str = "template") -> tuple[str, str]:
  """Returns (input, target) text; `where` names task and template in errors."""
  values = dict(example)
  values[OPTIONS_FIELD] = options_text
  inputs = _format(template.input, values, where)
  targets = _format(template.target, values, where)
  # A template with `{options_}` rendered without options leaves blank lines behind.
  inputs = re.sub(r"\n{3,}", "\n\n", inputs).strip()
  return inputs, targets.strip()


def cot_target(rationale: str, answer: str) -> str:
  return f"{rationale} {ANSWER_PHRASE} {answer}."


def extract_cot_answer(generation: str) -> str:
  """The answer after the last `ANSWER_PHRASE` in a chain-of-thought text.

  Text without the phrase is returned stripped, so a model that answers directly still
  gets scored on what it said.
  """
  tail = generation.rsplit(ANSWER_PHRASE, 1)
  if len(tail) == 1:
    return generation.strip()
  match = _ANSWER_RE.search(ANSWER_PHRASE + tail[1])
  return match.group(1).strip() if match else ""


def inverted(input_pattern: str, target_pattern: str) -> Template:
  return Template(input_pattern, target_pattern, inverted=True)


def chain_of_thought(input_pattern: str) -> Template:
  """A template whose target is the example's rationale and then its answer."""
  return Template(input_pattern, "{cot_target}", cot=True)
