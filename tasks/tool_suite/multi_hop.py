"""Cluster `multi_hop`: questions that need two lookups in the collection and a
subtraction, with the gold documents, a rationale and the gold ReAct trajectory.

- bridge: "How many years after the birth of its founder was the X founded?" (the X's
  document names the founder, the founder's gives the birth year);
- comparison: "How many years earlier was the X founded than the Y?".
"""
import dataclasses
import random

from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.tool_suite import entities
from tasks.tool_suite import held_out_facts
from tasks.tool_suite import trajectory as traj


def _bridge(rng: random.Random, org: entities.Organisation) -> dict:
  del rng
  person = org.founder
  org_doc, person_doc = org.document(), person.document()
  years = org.founded - person.born
  steps = (
      traj.step(f"I need the founder of the {org.name} and the year it was founded.",
                traj.SEARCH, org.name, entities.observation(org_doc)),
      traj.step(f"The {org.name} was founded in {org.founded} by {person.name}. Now I need "
                f"the year {person.name} was born.", traj.SEARCH, person.name,
                entities.observation(person_doc)),
      traj.step(f"{person.name} was born in {person.born}. The difference is "
                f"{org.founded} - {person.born}.", traj.CALCULATOR,
                f"{org.founded} - {person.born}", str(years)),
      traj.step(f"The {org.name} was founded {years} years after the birth of its founder.",
                traj.FINISH, str(years), None),
  )
  return {"question": f"How many years after the birth of its founder was the {org.name} "
                      "founded?",
          "answer": str(years), "gold_doc_ids": (org.doc_id, person.doc_id),
          "rationale": f"The {org.name} was founded in {org.founded} by {person.name}. "
                       f"{person.name} was born in {person.born}. "
                       f"{org.founded} - {person.born} = {years}.",
          "steps": steps}


def _comparison(rng: random.Random, org: entities.Organisation) -> dict | None:
  other = rng.choice(entities.in_split(org.split))
  if other.founded == org.founded:
    return None
  earlier, later = sorted((org, other), key=lambda o: o.founded)
  years = later.founded - earlier.founded
  steps = (
      traj.step(f"I need the years the {earlier.name} and the {later.name} were founded.",
                traj.SEARCH, earlier.name, entities.observation(earlier.document())),
      traj.step(f"The {earlier.name} was founded in {earlier.founded}. Now I need the year of "
                f"the {later.name}.", traj.SEARCH, later.name,
                entities.observation(later.document())),
      traj.step(f"The {later.name} was founded in {later.founded}. The difference is "
                f"{later.founded} - {earlier.founded}.", traj.CALCULATOR,
                f"{later.founded} - {earlier.founded}", str(years)),
      traj.step(f"The {earlier.name} was founded {years} years earlier than the "
                f"{later.name}.", traj.FINISH, str(years), None),
  )
  return {"question": f"How many years earlier was the {earlier.name} founded than the "
                      f"{later.name}?",
          "answer": str(years), "gold_doc_ids": (earlier.doc_id, later.doc_id),
          "rationale": f"The {earlier.name} was founded in {earlier.founded} and the "
                       f"{later.name} in {later.founded}. "
                       f"{later.founded} - {earlier.founded} = {years}.",
          "steps": steps}


def make_example(rng: random.Random) -> dict:
  documents = entities.documents_by_id()
  while True:
    org = rng.choice(entities.organisations())
    example = rng.choice((_bridge, _comparison))(rng, org)
    if example is not None:
      gold = [documents[i] for i in example["gold_doc_ids"]]
      return {**example, "trajectory": traj.render(example["steps"]),
              "react_target": traj.training_target(example["steps"]), "split": org.split,
              **entities.numbered_passages(rng, gold, org.split)}


DIRECT_TEMPLATES = (
    T("{question}", "{answer}"),
    T("Answer with a number.\n{question}", "{answer}"),
    _cot("{question}\nWork it out step by step."),
    _cot("Question: {question}\nLet us reason before answering."),
)
RAG_TEMPLATES = held_out_facts.RAG_TEMPLATES
# The prompt of the ReAct loop (tools.react.ReactAgent.prompt with these instructions).
REACT_TEMPLATES = (
    T(f"{traj.INSTRUCTION}\nQuestion: {{question}}{traj.PROMPT_END}", "{react_target}"),
)

TASK = TaskType("multi_hop", "multi_hop", make_example, DIRECT_TEMPLATES, ("question",),
                split_sizes={"train": 1500, "validation": 100, "test": 100},
                split_of=lambda example: example["split"])
REACT_TASK = dataclasses.replace(TASK, templates=REACT_TEMPLATES)
RAG_TASK = dataclasses.replace(TASK, templates=RAG_TEMPLATES)
