"""promptsource-format templates: directories of `templates.yaml` rendered with Jinja.

A template is one Jinja string; the rendered text is split on `|||` into input and target.
`answer_choices` is a Jinja template too ("Yes ||| No"), rendered per example and kept as
the "choices" feature for rank classification. Files use the `!Template` and
`!TemplateMetadata` YAML tags.
"""
import collections
import dataclasses
import pathlib
import random
import re
from typing import Any, Callable, Iterable, Mapping

from etils import epath
import jinja2
import jinja2.sandbox
import seqio
import yaml

from tasks import catalog
from tasks import features
from tasks import json_text
from tasks import metrics
from tasks import records
from tasks.templates import TemplateFieldError

SEPARATOR = "|||"


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
  dataset: str
  subset: str | None
  name: str
  template_id: str
  jinja: str
  answer_choices: str | None
  original_task: bool
  choices_in_prompt: bool
  metrics: tuple[str, ...]
  path: str

  @property
  def where(self) -> str:
    return f"{self.path}: template {self.name!r}"


class _Loader(yaml.SafeLoader):
  """SafeLoader that reads promptsource's tags as plain mappings."""


_Loader.add_constructor("!Template", lambda loader, node: loader.construct_mapping(node, deep=True))
_Loader.add_constructor("!TemplateMetadata",
                        lambda loader, node: loader.construct_mapping(node, deep=True))


def _most_frequent(items):
  return collections.Counter(items).most_common(1)[0][0] if items else None


def _environment(rng: random.Random) -> jinja2.Environment:
  env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
  env.globals.update(zip=zip, choice=rng.choice, most_frequent=_most_frequent)
  return env


def _field(mapping, key, kinds, where, default=None):
  """`mapping[key]` if it is one of `kinds` (None allowed when absent or null)."""
  value = mapping.get(key, default)
  if value is not None and not isinstance(value, kinds):
    names = " or ".join({str: "text", bool: "true/false", list: "a list",
                         dict: "a mapping"}[k] for k in kinds)
    raise json_text.BadDataError(f"{where}: field {key!r} should be {names}, got "
                                 f"{type(value).__name__} {_preview(value)}")
  return value


def _preview(value) -> str:
  text = repr(value) if isinstance(value, (str, int, float)) else ""
  return text if len(text) <= 40 else text[:37] + "..."


def _check_jinja(source: str, where: str):
  """Syntax errors surface at load time, naming the template."""
  try:
    jinja2.Environment().parse(source)
  except jinja2.TemplateSyntaxError as e:
    raise json_text.BadDataError(
        f"{where}: Jinja syntax error line {e.lineno}: {e.message}") from None


def load_file(path: str | pathlib.Path) -> list[PromptTemplate]:
  path = epath.Path(path)
  text = json_text.decode_utf8(path.read_bytes(), str(path))
  try:
    document = yaml.load(text, Loader=_Loader)
  except yaml.YAMLError as e:
    raise json_text.BadDataError(f"{path}: malformed YAML: {e}") from None
  except RecursionError:
    raise json_text.BadDataError(f"{path}: YAML nested too deeply to read") from None
  if not isinstance(document, dict) or "dataset" not in document:
    raise json_text.BadDataError(f"{path}: expected a mapping with 'dataset' and 'templates'")
  dataset = _field(document, "dataset", (str,), str(path))
  subset = _field(document, "subset", (str,), str(path))
  out = []
  for template_id, spec in (_field(document, "templates", (dict,), str(path)) or {}).items():
    where = f"{path}: template {template_id!r}"
    if not isinstance(spec, dict):
      raise json_text.BadDataError(f"{where} is not a mapping")
    missing = [k for k in ("name", "jinja") if not spec.get(k)]
    if missing:
      raise json_text.BadDataError(f"{where} lacks field(s) {missing}")
    name, jinja = _field(spec, "name", (str,), where), _field(spec, "jinja", (str,), where)
    answer_choices = _field(spec, "answer_choices", (str,), where)
    meta = _field(spec, "metadata", (dict,), where) or {}
    metrics_names = _field(meta, "metrics", (list,), f"{where}, metadata") or []
    if not all(isinstance(m, str) for m in metrics_names):
      raise json_text.BadDataError(
          f"{where}, metadata: field 'metrics' should be a list of names")
    for source, part in ((jinja, ""), (answer_choices, ", answer_choices")):
      if source is not None:
        _check_jinja(source, f"{path}: template {name!r}{part}")
    out.append(PromptTemplate(
        dataset=dataset, subset=subset, name=name, template_id=str(template_id),
        jinja=jinja, answer_choices=answer_choices,
        original_task=bool(_field(meta, "original_task", (bool,), f"{where}, metadata")),
        choices_in_prompt=bool(_field(meta, "choices_in_prompt", (bool,),
                                      f"{where}, metadata")),
        metrics=tuple(metrics_names), path=str(path)))
  return out


def load_directory(root: str | pathlib.Path) -> dict[tuple[str, str | None], list[PromptTemplate]]:
  """Every `templates.yaml` under `root`, grouped by (dataset, subset)."""
  grouped: dict[tuple[str, str | None], list[PromptTemplate]] = {}
  # epath has no recursive glob (one request per directory level on GCS); walk instead.
  files = sorted(directory / "templates.yaml" for directory, _, names in epath.Path(root).walk()
                 if "templates.yaml" in names)
  if not files:
    raise FileNotFoundError(f"no templates.yaml under {root}")
  for path in files:
    for template in load_file(path):
      grouped.setdefault((template.dataset, template.subset), []).append(template)
  return grouped


class TemplateRenderError(ValueError):
  """A template's Jinja code failed on a record (a type error, division by zero, ...)."""


def _render_text(env: jinja2.Environment, source: str, record: Mapping[str, Any],
                 where: str, **extra) -> str:
  try:
    return env.from_string(source).render(**record, **extra)
  except jinja2.UndefinedError as e:
    raise TemplateFieldError(f"{where}: {e.message} (the example has fields "
                             f"{sorted(record)})") from None
  # A template is code from its file: whatever its expressions raise on this record (an
  # index out of range, text plus a number, a sandbox refusal) is the template's error.
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateRenderError(f"{where}: {type(e).__name__}: {e}") from None


def apply(template: PromptTemplate, record: Mapping[str, Any], seed: int = 0
          ) -> dict[str, Any] | None:
  """Renders one record: {"inputs", "targets", "choices"}, or None if the template
  produces no target for it (promptsource templates do this on purpose for some rows)."""
  env = _environment(random.Random(f"{template.template_id}/{seed}"))
  choices = []
  if template.answer_choices:
    rendered = _render_text(env, template.answer_choices, record,
                            f"{template.where}, answer_choices")
    choices = [c.strip() for c in rendered.split(SEPARATOR)]
  text = _render_text(env, template.jinja, record, template.where, answer_choices=choices)
  parts = [p.strip() for p in text.split(SEPARATOR)]
  if len(parts) < 2 or not parts[1]:
    return None
  return {"inputs": parts[0], "targets": parts[1], "choices": choices}


def task_name(template: PromptTemplate, prefix: str = "ps") -> str:
  stem = "_".join(p for p in (template.dataset, template.subset, template.name) if p)
  return f"{prefix}_" + re.sub(r"[^0-9a-zA-Z]+", "_", stem).strip("_").lower()


def register(templates: Iterable[PromptTemplate],
             source_for: Callable[[PromptTemplate], seqio.DataSource], cluster: str,
             split_sizes: Callable[[], Mapping[str, int]] = dict, prefix: str = "ps"
             ) -> list[str]:
  """One seqio task per template over `source_for(template)` (TFDS, JSONL fixtures, ...)."""
  names = []
  for template in templates:
    name = task_name(template, prefix)
    render_fn = lambda record, index, t=template: apply(t, record, seed=index)
    seqio.TaskRegistry.add(
        name, source=source_for(template), output_features=features.output_features(),
        preprocessors=[
            lambda ds, fn=render_fn, n=name: records.render_records(ds, fn, n),
            *features.preprocessors(name)],
        postprocess_fn=metrics.postprocess_for(cot=False),
        metric_fns=metrics.metric_fns_for(
            "rouge" if "ROUGE" in template.metrics or "BLEU" in template.metrics
            else "exact_match"))
    catalog.add(catalog.Entry(name, cluster, templates=1, inverted_templates=int(
        not template.original_task), split_sizes=split_sizes))
    names.append(name)
  return names
