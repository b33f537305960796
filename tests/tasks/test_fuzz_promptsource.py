"""Fuzzed promptsource YAML and Jinja: templates that render (or skip a record), or an
error naming the file and template, never another exception."""
import pytest

from hypothesis import example, given, settings
from hypothesis import strategies as st
import yaml

from tasks import promptsource
from tasks.json_text import BadDataError
from tasks.templates import TemplateFieldError
from tests.tasks import fuzz_json

TEMPLATE = {"id": "t1", "name": "claim follows", "answer_choices": "Yes ||| No",
            "jinja": "{{premise}} Is \"{{hypothesis}}\" true? ||| {{answer_choices[label]}}",
            "metadata": {"original_task": True, "choices_in_prompt": False,
                         "metrics": ["Accuracy"], "languages": ["en"]}}
DOCUMENT = {"dataset": "super_glue", "subset": "rte", "templates": {"t1": TEMPLATE}}
RECORD = {"premise": "It rained.", "hypothesis": "The ground is wet.", "label": 0}
YAML_SYNTAX = st.sampled_from(list("{}[]:-&*!|>'\"#,? \n") + ["!Template", "&a ", "*a",
                                                               "templates:", "dataset: d\n"])
JINJA_SYNTAX = st.sampled_from(["{{", "}}", "{%", "%}", "|||", "premise", "label", " ", "if",
                                "for x in", "endfor", "endif", "answer_choices", "[", "]", "0",
                                "1", "/", "+", "-", "'a'", "|", "upper", "join", "(", ")",
                                "choice", "zip", "most_frequent", ".", "x"])
no_surrogates = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
        st.characters(codec="utf-8"), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=4), inner, max_size=3), max_leaves=6)


def _near_valid_document():
  swapped = fuzz_json.near_valid(DOCUMENT)
  # `near_valid` reaches one level down; also swap a field of the template itself.
  template = fuzz_json.near_valid(TEMPLATE).map(lambda t: dict(DOCUMENT, templates={"t1": t}))
  return (swapped | template).filter(_yaml_safe)


def _strings(value):
  if isinstance(value, dict):
    for k, v in value.items():
      yield from _strings(k)
      yield from _strings(v)
  elif isinstance(value, list):
    for v in value:
      yield from _strings(v)
  elif isinstance(value, str):
    yield value


def _yaml_safe(document) -> bool:
  """PyYAML cannot write lone surrogates (the JSON loaders' fuzz covers those)."""
  return not any(0xD800 <= ord(c) <= 0xDFFF for text in _strings(document) for c in text)


files = st.one_of(
    _near_valid_document().map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
    st.lists(YAML_SYNTAX, max_size=16).map("".join).map(str.encode),
    fuzz_json.raw_files())


def _load(content: bytes):
  path, loaded = fuzz_json.load_bytes(content, "templates.yaml", promptsource.load_file)
  if isinstance(loaded, ValueError):
    assert isinstance(loaded, BadDataError) and str(loaded).startswith(f"{path}:"), loaded
    return path, []
  return path, loaded


def _check_applies(template, record):
  try:
    rendered = promptsource.apply(template, record)
  except (TemplateFieldError, promptsource.TemplateRenderError) as e:
    assert str(e).startswith(template.where), e
    return
  if rendered is not None:
    assert isinstance(rendered["inputs"], str) and rendered["targets"]
    assert all(isinstance(c, str) for c in rendered["choices"])
  assert promptsource.task_name(template).startswith("ps_")


@settings(max_examples=200, deadline=1000)
@given(content=files)
@example(content=b"dataset: d\ntemplates: [1, 2]")
@example(content=b"dataset: d\ntemplates: {t: {name: n, jinja: j, metadata: [1]}}")
@example(content=b"dataset: d\ntemplates: {t: {name: n, jinja: j, metadata: {metrics: 5}}}")
@example(content=b"dataset: d\ntemplates: {t: {name: n, jinja: 5}}")
@example(content=b"dataset: d\nsubset: [1]\ntemplates: {t: {name: n, jinja: j}}")
@example(content=b"dataset: d\ntemplates: {t: {name: n, jinja: j, answer_choices: 5}}")
@example(content=b"dataset: d\ntemplates: {t: {name: n, jinja: j, answer_choices: '{{'}}")
@example(content=b"[" * 600)  # PyYAML: RecursionError (its scan is quadratic before it)
def test_yaml_file_loads_templates_or_fails_naming_the_file(content):
  _, loaded = _load(content)
  for template in loaded:
    assert isinstance(template.jinja, str) and isinstance(template.name, str)
    assert isinstance(template.original_task, bool)
    _check_applies(template, RECORD)


@settings(max_examples=150, deadline=1000)
@given(jinja=st.lists(JINJA_SYNTAX, min_size=1, max_size=14).map("".join),
       record=st.dictionaries(st.sampled_from(sorted(RECORD)) | st.text(max_size=4),
                              no_surrogates, max_size=4))
@example(jinja="{{ 1/0 }} ||| x", record={})
@example(jinja="{{ premise + 1 }} ||| x", record={"premise": "text"})
@example(jinja="{{ choice([]) }} ||| x", record={})
@example(jinja="{{ answer_choices[label] }} ||| x", record={"label": 5})
@example(jinja="{{ premise.__class__ }} ||| x", record={"premise": "p"})
def test_jinja_renders_or_fails_naming_the_template(jinja, record):
  document = dict(DOCUMENT, templates={"t1": dict(TEMPLATE, jinja=jinja)})
  _, loaded = _load(yaml.safe_dump(document).encode())
  for template in loaded:
    _check_applies(template, record)


def test_quoted_false_is_refused_not_read_as_true(tmp_path):
  path = tmp_path / "templates.yaml"
  path.write_text("dataset: d\ntemplates:\n  t1:\n    name: n\n    jinja: 'a ||| b'\n"
                  "    metadata: {original_task: 'false'}\n")
  with pytest.raises(BadDataError, match=r"templates.yaml: template 't1', metadata: field "
                                         r"'original_task' should be true/false, got str"):
    promptsource.load_file(path)
