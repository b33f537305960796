"""Turns an embedded-suite example into (inputs, targets, choices) for one format.

Everything random (template, option layout, exemplars) is drawn from a `random.Random`
seeded by (task, split, seed, index), so the same seed gives the same examples whatever
order or shard they are read in.
"""
import random
from typing import Any, Callable, Mapping

from tasks import formats as formats_lib
from tasks import options as options_lib
from tasks import templates as templates_lib
from tasks.suite.base import TaskType

CountTokens = Callable[[str], int]


def example_rng(name: str, split: str, seed: int, index: int) -> random.Random:
  return random.Random(f"{name}/{split}/{seed}/{index}")


def _noinstr_input(task: TaskType, example: Mapping[str, Any], options_text: str) -> str:
  body = "\n".join(str(example[f]) for f in task.input_fields)
  return f"{task.name}:\n{body}\n{options_text}".strip()


def render_template(template: templates_lib.Template, example: Mapping[str, Any],
                    options_text: str = "", where: str = "template") -> tuple[str, str]:
  """(input, target) of the example through the template; a CoT target is the example's
  rationale, then its answer after `templates.ANSWER_PHRASE`."""
  values = dict(example)
  if template.cot:
    values["cot_target"] = templates_lib.cot_target(example["rationale"], example["answer"])
  return templates_lib.render(template, values, options_text, where)


def _render_one(task: TaskType, template: templates_lib.Template, example: Mapping[str, Any],
                fmt: formats_lib.Format, options_text: str, index: int) -> tuple[str, str]:
  where = f"task {task.name!r}, template {index}"
  inputs, targets = render_template(template, example, options_text, where)
  if not fmt.instructions:
    inputs = _noinstr_input(task, example, options_text)
  return inputs, targets


def template_pool(task: TaskType, fmt: formats_lib.Format) -> tuple[templates_lib.Template, ...]:
  """The templates an example of this format is drawn from."""
  pool = tuple(t for t in task.templates_for(cot=fmt.cot)
               if fmt.inverted_templates or not t.inverted)
  return pool[:fmt.max_templates]


def render_example(task: TaskType, split: str, index: int, seed: int,
                   fmt: formats_lib.Format, count_tokens: CountTokens | None = None
                   ) -> dict[str, Any]:
  example = task.examples(split)[index]
  rng = example_rng(task.name, split, seed, index)
  template = rng.choice(template_pool(task, fmt))
  template_index = task.templates.index(template)
  uses_options = "options" in example and not template.inverted
  layout_seed = rng.random()  # one header and marker style for exemplars and the query

  def options_text_for(ex):
    if not (fmt.options and uses_options):
      return ""
    return options_lib.render_options(ex["options"], random.Random(layout_seed))
  inputs, targets = _render_one(task, template, example, fmt, options_text_for(example),
                                template_index)
  if fmt.few_shot:
    inputs = _prepend_exemplars(task, template, example, fmt, inputs, rng, options_text_for,
                                count_tokens, template_index)
  choices = list(example["options"]) if uses_options else []
  return {"inputs": inputs, "targets": targets, "choices": choices}


def _prepend_exemplars(task, template, example, fmt, query_inputs, rng, options_text_for,
                       count_tokens, template_index) -> str:
  """Adds train exemplars before the query while the prompt stays within the token budget.

  The evaluated example is never its own exemplar: candidates with its key are skipped
  (on the train split the example is in the pool).
  """
  if count_tokens is None:
    raise ValueError(f"task {task.name!r}: few-shot rendering needs a token counter")
  train = task.examples("train")
  key = task.key(example)
  wanted = rng.randint(1, formats_lib.MAX_SHOTS)
  shots = []
  used = count_tokens(query_inputs)
  for candidate_index in rng.sample(range(len(train)), min(len(train), 4 * wanted)):
    if len(shots) == wanted:
      break
    candidate = train[candidate_index]
    if task.key(candidate) == key:
      continue
    shot_in, shot_out = _render_one(task, template, candidate, fmt,
                                    options_text_for(candidate), template_index)
    shot = f"{shot_in}\n{shot_out}"
    cost = count_tokens(shot + formats_lib.EXEMPLAR_SEPARATOR)
    if used + cost > formats_lib.FEW_SHOT_INPUT_TOKENS:
      break
    shots.append(shot)
    used += cost
  return formats_lib.EXEMPLAR_SEPARATOR.join(shots + [query_inputs])
