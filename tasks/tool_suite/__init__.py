"""Embedded tasks that need tools: large-number arithmetic (PAL), questions about held-out
made-up entities (RAG over `entities.COLLECTION_PATH`) and two-lookup questions (ReAct).

TASK_TYPES answer directly (and with chain of thought where they have a rationale);
TOOL_VIEWS are the same examples with a tool-use target: (suffix, task type) pairs.
"""
from tasks.tool_suite import arithmetic
from tasks.tool_suite import entities
from tasks.tool_suite import held_out_facts
from tasks.tool_suite import multi_hop
from tasks.tool_suite import trajectory

TASK_TYPES = (arithmetic.TASK, held_out_facts.TASK, multi_hop.TASK)
TOOL_VIEWS = (("_pal", arithmetic.PAL_TASK), ("_rag", held_out_facts.RAG_TASK),
              ("_rag", multi_hop.RAG_TASK), ("_react", multi_hop.REACT_TASK))
COLLECTION_PATH = entities.COLLECTION_PATH

__all__ = ["COLLECTION_PATH", "TASK_TYPES", "TOOL_VIEWS", "trajectory"]
