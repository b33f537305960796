"""Evaluating with tools: the rag, pal and react prompting strategies, over the raw examples
(question, answer, gold document ids) of the tool-suite task types.

- rag: BM25 (tools.retrieval) retrieves `top_k` passages for the question; the prompt numbers
  them (tools.retrieval.prompts.rag_prompt, the layout the `_rag` tasks train on); the answer
  is the generation without its citations. Beside the task metric: recall@k of the retrieved
  ids against the gold ones, and precision / recall of the passages the answer cites.
- pal: the prompt is the type's `_pal` template; the generated program runs in the sandbox
  (tools.pal, tools.sandbox) and its output is the answer. A program that does not parse,
  fails, times out, or a sandbox that cannot start is that example's recorded failure (an
  empty answer); nothing runs unsandboxed.
- react: tools.react.ReactAgent over the compiled decoder (trainer.react_decoder: stops at
  "Observation:", continues from the KV cache) with search and lookup over the collection,
  calculator and finish; the answer is finish's argument. Beside the task metric: finished
  episodes, steps, and recall of the documents the searches showed.

With `PromptStrategy.chat` (a chat model: trainer.chat_prompts) every prompt is the model's
own chat turns, in its vocabulary: `num_shots` train examples rendered by the same template
(the type's direct or CoT template for few_shot / few_shot_cot; its `_rag`, `_pal` or `_react`
view for the tools) as earlier user and assistant turns, then the question; a ReAct reply
begins with "Thought:". few_shot and few_shot_cot then answer directly (the CoT answer is
extracted after `tasks.templates.ANSWER_PHRASE`), over the same examples as the tools.

Each example gets a prediction row (as trainer.evaluation writes them) and a trace (what was
retrieved, the program and its outcome, the episode).
"""
import dataclasses
import functools
from typing import Sequence

import seqio

from tasks import metrics as task_metrics
from tasks import render as render_lib
from tasks import templates as templates_lib
from tasks import tool_suite
from tasks import tool_suite_tasks
from tasks.tool_suite import trajectory
from tools import pal, react, registry
from tools.retrieval import bm25, collection, metrics as retrieval_metrics, prompts
from tools.sandbox import Sandbox
from trainer import prompting
from trainer.chat_prompts import ChatPrompts
from trainer.inference import InferenceModel
from trainer.react_decoder import ReactDecoder


_REACT_REPLY_START = "Thought:"


@functools.lru_cache(maxsize=4)
def _retriever(path: str) -> bm25.BM25Retriever:
  return bm25.BM25Retriever.build(collection.read_collection(path))


def _collection_path(strategy: prompting.PromptStrategy) -> str:
  return str(strategy.collection_path or tool_suite.COLLECTION_PATH)


@dataclasses.dataclass(frozen=True)
class _Prompter:
  """How a prompt reaches the model: as the task's input (its text + EOS, in the task's
  vocabulary), or with `chat` as a chat model's turns after the exemplars' (no EOS)."""
  vocabulary: object
  chat: ChatPrompts | None = None
  exemplars: tuple[tuple[str, str], ...] = ()

  @property
  def prompt_eos(self) -> bool:
    return self.chat is None

  def text(self, question: str, reply_start: str = "") -> str:
    if self.chat is None:
      return question + reply_start
    return self.chat.text(self.exemplars, question, reply_start)

  def ids(self, text: str, inputs_length: int) -> tuple[list[int], bool]:
    """The prompt's ids within inputs_length, and whether it was cut."""
    if self.chat is not None:
      return self.chat.ids(text, inputs_length)
    ids = [int(i) for i in self.vocabulary.encode(text)]
    return ids[:inputs_length - 1] + [self.vocabulary.eos_id], len(ids) > inputs_length - 1

  def generate(self, model: InferenceModel, texts: Sequence[str]) -> tuple[list[str], list[bool]]:
    """(greedy generations, whether each prompt was cut)."""
    encoded = [self.ids(t, model.inputs_length) for t in texts]
    generated = model.generate_ids([ids for ids, _ in encoded])
    return [_text(self.vocabulary, ids) for ids in generated], [cut for _, cut in encoded]


@dataclasses.dataclass(frozen=True)
class _ReadsPastEos:
  """A chat vocabulary for the ReAct loop, whose episode text is the decoding of all its
  ids: a chat prompt holds the EOS (`<|im_end|>`) at the end of every earlier turn, and
  seqio's `decode` stops at the first one (the loop itself cuts generations at EOS)."""
  vocabulary: object

  @property
  def eos_id(self) -> int:
    return self.vocabulary.eos_id

  def encode(self, text: str):
    return self.vocabulary.encode(text)

  def decode(self, ids) -> str:
    return self.vocabulary._decode(list(ids))  # pylint: disable=protected-access


def _prompter(strategy: prompting.PromptStrategy, task: seqio.Task, task_type,
              template: templates_lib.Template) -> _Prompter:
  if strategy.chat is None:
    return _Prompter(task.output_features["targets"].vocabulary)
  shots = task_type.examples("train")[:strategy.chat.num_shots]
  return _Prompter(strategy.chat.vocabulary, strategy.chat, tuple(
      render_lib.render_template(template, e, where=f"{task_type.name} exemplar")
      for e in shots))


def _text(vocabulary, ids: Sequence[int]) -> str:
  ids = list(ids)
  if vocabulary.eos_id in ids:
    ids = ids[:ids.index(vocabulary.eos_id)]
  return vocabulary.decode(ids)


def _template(task_type, strategy_name: str) -> templates_lib.Template:
  """The template of the strategy's prompts and exemplars: the type's first direct (or CoT)
  template, or the first of its tool view."""
  if strategy_name in ("few_shot", "few_shot_cot"):
    return task_type.templates_for(cot=strategy_name == "few_shot_cot")[0]
  return next(view.templates[0] for suffix, view in tool_suite.TOOL_VIEWS
              if suffix == f"_{strategy_name}" and view.name == task_type.name)


def _scores(task: seqio.Task, targets: list[str], answers: list[str]) -> tuple[dict, list]:
  """(the task's metrics over all examples, each example's metrics alone)."""
  overall, each = {}, [{} for _ in targets]
  for metric_fn in task.predict_metric_fns:
    overall.update(metric_fn(targets, answers))
    for i, (target, answer) in enumerate(zip(targets, answers)):
      each[i].update(metric_fn([target], [answer]))
  return overall, each


def evaluate_task(strategy: prompting.PromptStrategy, task_name: str, split: str,
                  num_examples: int | None, model: InferenceModel
                  ) -> tuple[dict[str, float], list[dict], list[dict]]:
  """(metrics, prediction rows, traces) of `task_name` (a `tool_<type>` task) under a tool
  strategy, over the first `num_examples` examples of `split`."""
  task = seqio.get_mixture_or_task(task_name)
  task_type = tool_suite_tasks.task_type_of(task_name)
  examples = list(task_type.examples(split))[:num_examples]
  if not examples:
    raise ValueError(f"tool strategy {strategy.name!r}: task {task_name!r} has no examples in "
                     f"split {split!r}")
  template = _template(task_type, strategy.name)
  prompter = _prompter(strategy, task, task_type, template)
  run = {"rag": _rag, "pal": _pal, "react": _react, "few_shot": _direct,
         "few_shot_cot": _direct}[strategy.name]
  answers, extra_metrics, rows, traces = run(strategy, task_type, template, examples, model,
                                             prompter)
  targets = [e["answer"] for e in examples]
  values, each = _scores(task, targets, answers)
  values.update(extra_metrics)
  for index, (row, trace, score) in enumerate(zip(rows, traces, each)):
    row.update(task=task_name, target=targets[index], answer=answers[index], score=score)
    trace.update(task=task_name, index=index, question=examples[index]["question"],
                 target=targets[index], answer=answers[index])
  return values, rows, traces


def _rendered(template, task_type, examples) -> list[str]:
  return [render_lib.render_template(template, e, where=task_type.name)[0] for e in examples]


def _direct(strategy, task_type, template, examples, model, prompter):
  """few_shot / few_shot_cot of a chat model: the answer without tools."""
  texts = [prompter.text(t) for t in _rendered(template, task_type, examples)]
  generations, cuts = prompter.generate(model, texts)
  extract = task_metrics.postprocess_for(cot=template.cot)
  rows = [{"input": t, "prediction": g} for t, g in zip(texts, generations)]
  traces = [{"prompt": t, "generation": g, "prompt_truncated": cut}
            for t, g, cut in zip(texts, generations, cuts)]
  return ([extract(g) for g in generations], {"prompts_truncated": float(sum(cuts))}, rows,
          traces)


def _rag(strategy, task_type, template, examples, model, prompter):
  del task_type, template
  hits = _retriever(_collection_path(strategy)).search_batch(
      [e["question"] for e in examples], strategy.top_k)
  texts = [prompter.text(prompts.rag_prompt(e["question"], [h.document for h in row]))
           for e, row in zip(examples, hits)]
  generations, cuts = prompter.generate(model, texts)
  retrieved = [[h.document.id for h in row] for row in hits]
  gold = [list(e["gold_doc_ids"]) for e in examples]
  cited = [prompts.extract_citations(g, [h.document for h in row]).doc_ids
           for g, row in zip(generations, hits)]
  extra = {f"recall@{strategy.top_k}": retrieval_metrics.recall_at_k(retrieved, gold,
                                                                    strategy.top_k),
           **retrieval_metrics.citation_scores(cited, gold),
           "prompts_truncated": float(sum(cuts))}
  rows = [{"input": t, "prediction": g} for t, g in zip(texts, generations)]
  traces = [{"retrieved": [{"id": h.document.id, "score": h.score, "rank": h.rank} for h in row],
             "gold_doc_ids": g, "prompt": t, "generation": gen, "cited_doc_ids": list(c),
             "prompt_truncated": cut}
            for row, g, t, gen, c, cut in zip(hits, gold, texts, generations, cited, cuts)]
  return [prompts.strip_citations(g) for g in generations], extra, rows, traces


def _pal(strategy, task_type, template, examples, model, prompter):
  del strategy
  texts = [prompter.text(t) for t in _rendered(template, task_type, examples)]
  generations, cuts = prompter.generate(model, texts)
  answers, extra, outcomes = run_programs(generations, Sandbox())
  extra["prompts_truncated"] = float(sum(cuts))
  rows = [{"input": t, "prediction": g} for t, g in zip(texts, generations)]
  traces = [{"prompt": t, "generation": g, "pal": o.to_json(), "prompt_truncated": cut}
            for t, g, o, cut in zip(texts, generations, outcomes, cuts)]
  return answers, extra, rows, traces


def run_programs(generations: Sequence[str], sandbox: Sandbox
                 ) -> tuple[list[str], dict[str, float], list[pal.PalOutcome]]:
  """Each generation's program run in `sandbox`: (answers, "" where it failed; the share of
  programs that ran and the count of each failure status; the outcomes)."""
  outcomes = [pal.solve(g, sandbox) for g in generations]
  statuses = [o.status for o in outcomes]
  extra = {"program_ok": 100.0 * statuses.count("ok") / max(len(statuses), 1),
           **{f"failures/{s}": float(statuses.count(s)) for s in sorted(set(statuses))
              if s != "ok"}}
  return [o.answer or "" for o in outcomes], extra, outcomes


def _search_tools(strategy, shown: list[str]):
  retriever = _retriever(_collection_path(strategy))
  by_key = {}
  for document in retriever.documents:
    by_key.setdefault(document.id.lower(), document)
    by_key.setdefault(document.title.lower(), document)

  def search(query: str) -> str:
    found = retriever.search(query, strategy.react_search_hits or strategy.top_k)
    shown.extend(h.document.id for h in found)
    return " ".join(f"[{h.document.id}] {h.document.title}: {h.document.text}" for h in found)

  def lookup(key: str) -> str:
    document = by_key.get(key.strip().strip("[]").lower())
    if document is None:
      return f"No document has the id or title {key!r}."
    shown.append(document.id)
    return f"[{document.id}] {document.title}: {document.text}"

  return search, lookup


def _react(strategy, task_type, template, examples, model, prompter):
  config = react.ReactConfig(max_steps=strategy.react_max_steps,
                             max_step_tokens=strategy.react_step_tokens,
                             max_total_tokens=model.inputs_length + strategy.react_max_steps
                             * strategy.react_step_tokens * 2)
  vocabulary = prompter.vocabulary if prompter.chat is None else _ReadsPastEos(
      prompter.vocabulary)
  decoder = ReactDecoder(model, vocabulary, config, prompt_eos=prompter.prompt_eos)
  answers, rows, traces, shown_per_example = [], [], [], []
  for example in examples:
    shown: list[str] = []
    search, lookup = _search_tools(strategy, shown)
    prompt_text = None
    if prompter.chat is not None:  # the exemplars' layout; the reply begins as theirs do
      chat_text = prompter.text(_rendered(template, task_type, [example])[0],
                                reply_start=_REACT_REPLY_START)
      prompt_text = lambda question, text=chat_text: text
    agent = react.ReactAgent(decoder.episode(), vocabulary,
                             registry.builtin_registry(search=search, lookup=lookup),
                             config, instructions=trajectory.INSTRUCTION,
                             prompt_text=prompt_text)
    try:
      trace = agent.run(example["question"]).to_json()
    except ValueError as error:  # e.g. a prompt longer than inputs_length: this example fails
      trace = {"status": "failed", "error": str(error), "answer": None, "steps": []}
    shown_per_example.append(shown)
    answers.append(trace["answer"] or "")
    rows.append({"input": agent.prompt(example["question"]),
                 "prediction": trace.get("text", "")})
    traces.append({"react": trace, "shown_doc_ids": shown,
                   "gold_doc_ids": list(example["gold_doc_ids"])})
  statuses = [t["react"]["status"] for t in traces]
  extra = {"finished": 100.0 * statuses.count(react.FINISHED) / len(statuses),
           "mean_steps": sum(len(t["react"]["steps"]) for t in traces) / len(traces),
           "search_recall": retrieval_metrics.recall_at_k(
               shown_per_example,
               [list(e["gold_doc_ids"]) for e in examples],
               max(1, max(map(len, shown_per_example)))),
           "prefills": float(decoder.prefills), "continuations": float(decoder.continuations),
           **{f"failures/{s}": float(statuses.count(s)) for s in sorted(set(statuses))
              if s != react.FINISHED}}
  return answers, extra, rows, traces
