"""A seqio mixture re-registered in a chat model's format and vocabulary.

Every task of the mixture gets a twin `<task>_<suffix>` with the same source, metrics and
preprocessors, whose inputs are wrapped in one user turn of the chat template (prefix and
suffix read off the template itself) and tokenized with the chat model's vocabulary.
Targets end with the vocabulary's EOS, which for ChatML models closes the assistant turn.
"""
import functools

import seqio
import tensorflow as tf

# Preprocessors that tokenize; the user turn is wrapped just before the first of them.
_TOKENIZERS = ("tokenize_count_and_trim", "tokenize", "tokenize_and_append_eos")


def wrap_user_turn(dataset: tf.data.Dataset, prefix: str, suffix: str) -> tf.data.Dataset:
  return dataset.map(lambda ex: {**ex, "inputs": tf.strings.join([prefix, ex["inputs"], suffix])},
                     num_parallel_calls=tf.data.AUTOTUNE)


def _with_chat_turn(task: seqio.Task, wrap) -> list:
  steps = list(task.preprocessors)
  names = [getattr(getattr(p, "func", p), "__name__", "") for p in steps]
  for i, name in enumerate(names):
    if name in _TOKENIZERS:
      return steps[:i] + [wrap] + steps[i:]
  raise ValueError(f"task {task.name!r} has no tokenizing preprocessor (one of "
                   f"{_TOKENIZERS}) to put the chat turn in front of")


def _register_twin(task: seqio.Task, suffix: str, features: dict, wrap) -> str:
  twin = f"{task.name}_{suffix}"
  if twin not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(twin, source=task.source, output_features=features,
                           preprocessors=_with_chat_turn(task, wrap),
                           postprocess_fn=task.postprocessor, metric_fns=task.metric_fns,
                           shuffle_buffer_size=task.shuffle_buffer_size)
  return twin


def register_chat_mixture(mixture_or_task_name: str, vocabulary: seqio.Vocabulary,
                          template, suffix: str) -> str:
  """Registers (once) and returns `<mixture_or_task_name>_<suffix>`: a mixture of twins,
  or for a task its twin itself.

  template: anything with `turn_affixes() -> (prefix, suffix)` around one user turn (e.g.
  interop.chat_template.ChatTemplate).
  """
  name = f"{mixture_or_task_name}_{suffix}"
  if name in seqio.MixtureRegistry.names() or name in seqio.TaskRegistry.names():
    return name
  provider = seqio.get_mixture_or_task(mixture_or_task_name)
  is_mixture = isinstance(provider, seqio.Mixture)
  prefix, turn_end = template.turn_affixes()
  wrap = functools.partial(wrap_user_turn, prefix=prefix, suffix=turn_end)
  features = {"inputs": seqio.Feature(vocabulary, add_eos=False),
              "targets": seqio.Feature(vocabulary, add_eos=True)}
  if not is_mixture:
    return _register_twin(provider, suffix, features, wrap)
  rates = [(_register_twin(task, suffix, features, wrap), provider.get_rate(task))
           for task in provider.tasks]
  seqio.MixtureRegistry.add(name, rates)
  return name

