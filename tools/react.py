"""ReAct (Yao et al. 2023): the model interleaves Thought, Action and Observation until it
calls finish[answer] or runs out of steps.

The loop owns no model: it calls `generate(token_ids, stop_strings) -> new token ids` (any
decoder that can stop at "Observation:"; one that keeps its KV cache between calls sees each
call extend the last one's sequence) and reads text through a seqio-style vocabulary
(`encode`, `decode`). Token ids grow by appending, never by re-encoding the whole text, so
the ids the model wrote stay exactly the ids it wrote: `ReactTrace.token_ids` with
`model_mask` (1 on model-written tokens, 0 on prompt and observation tokens) is what a
policy-gradient trainer needs to train on the model's own tokens only.

An end-of-sequence id ends the model's turn: it and what follows are left out. Malformed
output does not stop the loop: an unknown tool, an action that cannot be read or a
step without one each get an observation telling the model what to write; a step longer than
`max_step_tokens` (a runaway thought) is cut there.
"""
import dataclasses
import re
from typing import Callable, Protocol, Sequence

from tools.registry import FINISH, ToolRegistry

OBSERVATION = "Observation:"
STOP_STRINGS = (OBSERVATION,)
FINISHED = "finished"
STEP_LIMIT = "step_limit"
TOKEN_LIMIT = "token_limit"

_ACTION = re.compile(r"Action\s*\d*\s*:\s*")
_TOOL_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\[")

Generate = Callable[[Sequence[int], Sequence[str]], Sequence[int]]


class Vocabulary(Protocol):
  def encode(self, text: str) -> Sequence[int]: ...
  def decode(self, ids: Sequence[int]) -> str: ...


@dataclasses.dataclass(frozen=True)
class ReactConfig:
  max_steps: int = 8
  max_step_tokens: int = 256
  max_total_tokens: int = 2048
  max_observation_chars: int = 600


@dataclasses.dataclass
class ReactStep:
  """model_text: all the model wrote this step (up to its stop string); action and argument:
  the tool call read from it, None when none could be read; observation: what the loop
  answered (None after finish); cut: the step was cut at max_step_tokens."""
  model_text: str
  thought: str
  action: str | None
  argument: str | None
  observation: str | None
  cut: bool


@dataclasses.dataclass
class ReactTrace:
  """A whole episode. status: finished, step_limit or token_limit; answer: finish's argument
  when finished. text is the decoded episode, token_ids and model_mask its exact tokens."""
  question: str
  steps: list[ReactStep]
  answer: str | None
  status: str
  text: str
  token_ids: list[int]
  model_mask: list[int]

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: dict) -> "ReactTrace":
    return cls(**{**data, "steps": [ReactStep(**step) for step in data["steps"]]})


DEFAULT_INSTRUCTIONS = (
    "Answer the question by interleaving Thought, Action and Observation steps. A Thought "
    "reasons about what to do next; an Action calls one tool as tool[argument]; the "
    "Observation shows its result. Finish with Action: finish[answer].\nTools:\n{tools}\n")


@dataclasses.dataclass(frozen=True)
class ReactAgent:
  """`ReactAgent(generate, vocabulary, registry).run(question)` -> ReactTrace.

  examples: worked episodes placed between the instructions and the question (few-shot);
  prompt_text: the whole prompt of a question instead (e.g. a chat model's turns, ending
  where the model's first Thought goes)."""
  generate: Generate
  vocabulary: Vocabulary
  registry: ToolRegistry
  config: ReactConfig = ReactConfig()
  instructions: str = DEFAULT_INSTRUCTIONS
  examples: str = ""
  prompt_text: Callable[[str], str] | None = None

  def prompt(self, question: str) -> str:
    if self.prompt_text is not None:
      return self.prompt_text(question)
    return (self.instructions.format(tools=self.registry.describe()) + self.examples
            + f"\nQuestion: {question}\nThought:")

  def run(self, question: str) -> ReactTrace:
    episode = _Episode(self.vocabulary)
    episode.append_text(self.prompt(question))
    steps: list[ReactStep] = []
    for _ in range(self.config.max_steps):
      room = self.config.max_total_tokens - len(episode.token_ids)
      if room <= 0:
        return episode.trace(question, steps, None, TOKEN_LIMIT)
      generated = self.generate(list(episode.token_ids), STOP_STRINGS)
      ids, stopped = _cut_at_stop(_until_eos(generated, self.vocabulary), self.vocabulary)
      limit = min(self.config.max_step_tokens, room)
      cut = len(ids) > limit
      if cut:
        ids, stopped = ids[:limit], False
      model_text = episode.append_model_ids(ids)
      step = self._step(model_text[:model_text.find(OBSERVATION)] if stopped else model_text,
                        cut)
      steps.append(step)
      if step.action == FINISH:
        return episode.trace(question, steps, step.argument, FINISHED)
      episode.append_text(("" if stopped else f"\n{OBSERVATION}")
                          + f" {step.observation}\nThought:")
    return episode.trace(question, steps, None, STEP_LIMIT)

  def _step(self, model_text: str, cut: bool) -> ReactStep:
    thought, action, argument, problem = parse_action(model_text)
    if action == FINISH:
      observation = None
    elif problem is not None:
      tools = ", ".join(self.registry.names)
      observation = (f"{problem} End each step with Action: tool[argument], the tool one of: "
                     f"{tools}.")
      if cut:
        observation = f"Your step was cut at its length limit. {observation}"
    else:
      observation = self.registry.call(action, argument)
    if observation is not None and len(observation) > self.config.max_observation_chars:
      observation = observation[:self.config.max_observation_chars] + " ..."
    return ReactStep(model_text=model_text, thought=thought, action=action, argument=argument,
                     observation=observation, cut=cut)


def parse_action(text: str) -> tuple[str, str | None, str | None, str | None]:
  """(thought, tool name, argument, problem) of one step's text. The first `Action:` ends the
  thought; its argument runs to the bracket that closes the opening one, so brackets inside
  it (a Python list) are kept. problem says why no action could be read, else None."""
  found = _ACTION.search(text)
  if found is None:
    return text.strip(), None, None, "No action found."
  thought = text[:found.start()].strip()
  call = _TOOL_CALL.match(text, found.end())
  if call is None:
    written = text[found.end():].strip().splitlines()[0] if text[found.end():].strip() else ""
    return thought, None, None, f"Could not read the action {written!r}."
  depth = 1
  for position in range(call.end(), len(text)):
    depth += {"[": 1, "]": -1}.get(text[position], 0)
    if depth == 0:
      return thought, call.group(1), text[call.end():position].strip(), None
  return thought, None, None, f"The action {call.group(1)}[ has no closing ']'."


class _Episode:
  """The episode's token ids and the mask of the model's, grown together; its text is always
  the decoding of all the ids, so spaces at the seams come out as the model sees them."""

  def __init__(self, vocabulary: Vocabulary):
    self.vocabulary = vocabulary
    self.token_ids: list[int] = []
    self.model_mask: list[int] = []

  @property
  def text(self) -> str:
    return self.vocabulary.decode(self.token_ids)

  def append_text(self, text: str) -> None:
    """Appends text the loop writes (prompt, observations), encoded so that the episode then
    reads exactly as before + text. A SentencePiece model with a dummy prefix starts every
    encoding with a space: for it the space of " 4" must come from the encoding of "4", and
    the lone space piece before "\nObservation:" must go."""
    expected = self.text + text
    encoded = [int(i) for i in self.vocabulary.encode(text)]
    candidates = [encoded, encoded[1:]]
    if text.startswith(" "):
      candidates.insert(1, [int(i) for i in self.vocabulary.encode(text[1:])])
    ids = next((c for c in candidates if self.vocabulary.decode(self.token_ids + c) == expected),
               encoded)
    self.token_ids += ids
    self.model_mask += [0] * len(ids)

  def append_model_ids(self, ids: Sequence[int]) -> str:
    """Appends model-written ids; returns their text as it reads after what came before."""
    before = self.text
    self.token_ids += [int(i) for i in ids]
    self.model_mask += [1] * len(ids)
    after = self.text
    return after[len(before):] if after.startswith(before) else self.vocabulary.decode(ids)

  def trace(self, question, steps, answer, status) -> ReactTrace:
    return ReactTrace(question=question, steps=steps, answer=answer, status=status,
                      text=self.text, token_ids=list(self.token_ids),
                      model_mask=list(self.model_mask))


def _until_eos(ids: Sequence[int], vocabulary: Vocabulary) -> list[int]:
  """The ids before the first end-of-sequence id: the model ended its turn there (a decoder
  would have stopped), and seqio's decode drops everything after one."""
  ids = [int(i) for i in ids]
  eos = getattr(vocabulary, "eos_id", None)
  return ids[:ids.index(eos)] if eos in ids else ids


def _cut_at_stop(ids: list[int], vocabulary: Vocabulary) -> tuple[list[int], bool]:
  """The shortest prefix of `ids` whose text holds a stop string (the model's tokens up to and
  with it: a decoder may overshoot, or not stop at all), and whether one was found."""
  def stops(count: int) -> bool:
    text = vocabulary.decode(ids[:count])
    return any(stop in text for stop in STOP_STRINGS)

  if not stops(len(ids)):
    return ids, False
  low, high = 1, len(ids)  # the text of a longer prefix extends a shorter one's: bisect
  while low < high:
    middle = (low + high) // 2
    if stops(middle):
      high = middle
    else:
      low = middle + 1
  return ids[:low], True
