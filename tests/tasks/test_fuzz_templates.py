"""Fuzzed FLAN-style templates and examples: rendering gives text or a clear error naming
where it happened, never another exception; every suite task renders in every format."""
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks import formats
from tasks import render
from tasks import suite
from tasks import templates
from tasks import vocab

WHERE = "task 'fuzzed', template 0"
FIELD_NAMES = ("premise", "answer", "options", "a", "0", "")
# Braces, field names, attribute/index/conversion/spec syntax: what a pattern is made of.
PATTERN_ALPHABET = st.sampled_from(list("{}[]!:.<>^0123 rsx\n") + list(FIELD_NAMES[:4]))
patterns = st.one_of(st.lists(PATTERN_ALPHABET, max_size=12).map("".join), st.text(max_size=20))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6)
examples = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), values,
                           max_size=4)
FUZZ = settings(max_examples=200, deadline=1000)


@FUZZ
@given(input_pattern=patterns, target_pattern=patterns, record=examples,
       options_text=st.text(max_size=20))
@example(input_pattern="{", target_pattern="", record={}, options_text="")
@example(input_pattern="{0}", target_pattern="", record={}, options_text="")
@example(input_pattern="{a.b}", target_pattern="", record={"a": 1}, options_text="")
@example(input_pattern="{a[0]}", target_pattern="", record={"a": 1}, options_text="")
@example(input_pattern="{a:x}", target_pattern="", record={"a": "text"}, options_text="")
@example(input_pattern="{a:{a:{a}}}", target_pattern="", record={"a": 1}, options_text="")
def test_render_gives_text_or_a_clear_error(input_pattern, target_pattern, record,
                                            options_text):
  template = templates.Template(input_pattern, target_pattern)
  try:
    inputs, targets = templates.render(template, record, options_text, where=WHERE)
  except (templates.TemplateFieldError, templates.TemplatePatternError) as e:
    assert str(e).startswith(WHERE)
  else:
    assert isinstance(inputs, str) and isinstance(targets, str)
    assert "\n\n\n" not in inputs and inputs == inputs.strip()


@FUZZ
@given(input_pattern=patterns, target_pattern=patterns)
@example(input_pattern="}", target_pattern="")
def test_fields_are_names_or_a_clear_error(input_pattern, target_pattern):
  try:
    names = templates.Template(input_pattern, target_pattern).fields(WHERE)
  except templates.TemplatePatternError as e:
    assert str(e).startswith(WHERE)
  else:
    assert all(isinstance(n, str) and n for n in names)


@FUZZ
@given(generation=st.text(alphabet=st.sampled_from(list("So the answer is.\n 42")), max_size=40)
       | st.text(max_size=40))
def test_cot_answer_extraction_takes_text_after_the_last_phrase(generation):
  answer = templates.extract_cot_answer(generation)
  if templates.ANSWER_PHRASE not in generation:
    assert answer == generation.strip()
  else:
    assert answer in generation.rsplit(templates.ANSWER_PHRASE, 1)[1]


@settings(max_examples=200, deadline=2000)
@given(task=st.sampled_from(suite.TASK_TYPES), split=st.sampled_from(["train", "validation",
                                                                      "test"]),
       index=st.integers(0, 99), seed=st.integers(0, 2**32), fmt=st.sampled_from(
           formats.ALL_FORMATS + (formats.RANK_CLASSIFICATION,)))
def test_every_suite_task_renders_in_every_format(task, split, index, seed, fmt):
  if fmt.cot and not task.has_cot:
    return  # no chain-of-thought templates to draw from; the registry has no such task
  example_count = len(task.examples(split))
  rendered = render.render_example(task, split, index % example_count, seed, fmt,
                                   vocab.count_tokens)
  assert rendered["inputs"].strip() and rendered["targets"].strip()
  if rendered["choices"]:
    # A chain-of-thought target is a rationale ending in the answer phrase and an option.
    answer = (templates.extract_cot_answer(rendered["targets"]) if fmt.cot
              else rendered["targets"])
    assert answer in rendered["choices"]
