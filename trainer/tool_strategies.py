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

Each example gets a prediction row (as trainer.evaluation writes them) and a trace (what was
retrieved, the program and its outcome, the episode).
"""
import functools
from typing import Sequence

import seqio

from tasks import templates as templates_lib
from tasks import tool_suite
from tasks import tool_suite_tasks
from tasks.tool_suite import trajectory
from tools import pal, react, registry
from tools.retrieval import bm25, collection, metrics as retrieval_metrics, prompts
from tools.sandbox import Sandbox
from trainer import prompting
from trainer.inference import InferenceModel
from trainer.react_decoder import ReactDecoder


@functools.lru_cache(maxsize=4)
def _retriever(path: str) -> bm25.BM25Retriever:
  return bm25.BM25Retriever.build(collection.read_collection(path))


def _collection_path(strategy: prompting.PromptStrategy) -> str:
  return str(strategy.collection_path or tool_suite.COLLECTION_PATH)


def _prompt_ids(vocabulary, text: str, inputs_length: int) -> tuple[list[int], bool]:
  """The prompt as a task input (ids + EOS) within inputs_length, and whether it was cut."""
  ids = [int(i) for i in vocabulary.encode(text)]
  return ids[:inputs_length - 1] + [vocabulary.eos_id], len(ids) > inputs_length - 1


def _text(vocabulary, ids: Sequence[int]) -> str:
  ids = list(ids)
  if vocabulary.eos_id in ids:
    ids = ids[:ids.index(vocabulary.eos_id)]
  return vocabulary.decode(ids)


def _view_template(task_type, tool: str) -> templates_lib.Template:
  return next(view.templates[0] for suffix, view in tool_suite.TOOL_VIEWS
              if suffix == f"_{tool}" and view.name == task_type.name)


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
  vocabulary = task.output_features["targets"].vocabulary
  run = {"rag": _rag, "pal": _pal, "react": _react}[strategy.name]
  answers, extra_metrics, rows, traces = run(strategy, task_type, examples, model, vocabulary)
  targets = [e["answer"] for e in examples]
  values, each = _scores(task, targets, answers)
  values.update(extra_metrics)
  for index, (row, trace, score) in enumerate(zip(rows, traces, each)):
    row.update(task=task_name, target=targets[index], answer=answers[index], score=score)
    trace.update(task=task_name, index=index, question=examples[index]["question"],
                 target=targets[index], answer=answers[index])
  return values, rows, traces


def _rag(strategy, task_type, examples, model, vocabulary):
  del task_type
  hits = _retriever(_collection_path(strategy)).search_batch(
      [e["question"] for e in examples], strategy.top_k)
  texts = [prompts.rag_prompt(e["question"], [h.document for h in row])
           for e, row in zip(examples, hits)]
  encoded = [_prompt_ids(vocabulary, t, model.inputs_length) for t in texts]
  generations = [_text(vocabulary, ids) for ids in model.generate_ids([e[0] for e in encoded])]
  retrieved = [[h.document.id for h in row] for row in hits]
  gold = [list(e["gold_doc_ids"]) for e in examples]
  cited = [prompts.extract_citations(g, [h.document for h in row]).doc_ids
           for g, row in zip(generations, hits)]
  extra = {f"recall@{strategy.top_k}": retrieval_metrics.recall_at_k(retrieved, gold,
                                                                    strategy.top_k),
           **retrieval_metrics.citation_scores(cited, gold),
           "prompts_truncated": float(sum(cut for _, cut in encoded))}
  rows = [{"input": t, "prediction": g} for t, g in zip(texts, generations)]
  traces = [{"retrieved": [{"id": h.document.id, "score": h.score, "rank": h.rank} for h in row],
             "gold_doc_ids": g, "prompt": t, "generation": gen, "cited_doc_ids": list(c),
             "prompt_truncated": cut}
            for row, g, t, gen, c, (_, cut) in zip(hits, gold, texts, generations, cited, encoded)]
  return [prompts.strip_citations(g) for g in generations], extra, rows, traces


def _pal(strategy, task_type, examples, model, vocabulary):
  del strategy
  template = _view_template(task_type, "pal")
  texts = [templates_lib.render(template, e, where=f"{task_type.name} pal")[0] for e in examples]
  encoded = [_prompt_ids(vocabulary, t, model.inputs_length) for t in texts]
  generations = [_text(vocabulary, ids) for ids in model.generate_ids([e[0] for e in encoded])]
  answers, extra, outcomes = run_programs(generations, Sandbox())
  rows = [{"input": t, "prediction": g} for t, g in zip(texts, generations)]
  traces = [{"prompt": t, "generation": g, "pal": o.to_json()}
            for t, g, o in zip(texts, generations, outcomes)]
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
    found = retriever.search(query, strategy.top_k)
    shown.extend(h.document.id for h in found)
    return " ".join(f"[{h.document.id}] {h.document.title}: {h.document.text}" for h in found)

  def lookup(key: str) -> str:
    document = by_key.get(key.strip().strip("[]").lower())
    if document is None:
      return f"No document has the id or title {key!r}."
    shown.append(document.id)
    return f"[{document.id}] {document.title}: {document.text}"

  return search, lookup


def _react(strategy, task_type, examples, model, vocabulary):
  del task_type
  config = react.ReactConfig(max_steps=strategy.react_max_steps,
                             max_step_tokens=strategy.react_step_tokens,
                             max_total_tokens=model.inputs_length + strategy.react_max_steps
                             * strategy.react_step_tokens * 2)
  decoder = ReactDecoder(model, vocabulary, config)
  answers, rows, traces, shown_per_example = [], [], [], []
  for example in examples:
    shown: list[str] = []
    search, lookup = _search_tools(strategy, shown)
    agent = react.ReactAgent(decoder.episode(), vocabulary,
                             registry.builtin_registry(search=search, lookup=lookup),
                             config, instructions=trajectory.INSTRUCTION)
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
