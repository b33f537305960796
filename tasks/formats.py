"""The ways one task is presented: FLAN 2022's zero-/few-shot x with/without options, plus
chain-of-thought and the no-instruction ablation (dataset name instead of a template)."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Format:
  suffix: str           # appended to the task name in the registry ("" for the default)
  few_shot: bool = False
  options: bool = True
  cot: bool = False
  instructions: bool = True
  inverted_templates: bool = True  # False: only templates that ask the task itself
  max_templates: int | None = None  # the first this many of the pool; None: all of it


ZERO_SHOT = Format("")
ZERO_SHOT_NO_OPTIONS = Format("_noopt", options=False)
FEW_SHOT = Format("_fs", few_shot=True)
FEW_SHOT_NO_OPTIONS = Format("_fs_noopt", few_shot=True, options=False)
COT = Format("_cot", cot=True)
# FLAN 2022's few-shot CoT: worked train exemplars (input, rationale, answer), then the query.
FEW_SHOT_COT = Format("_fs_cot", few_shot=True, cot=True)
NO_INSTRUCTIONS = Format("_noinstr", instructions=False, inverted_templates=False)
# FLAN's template ablation: every example through the task's first non-inverted template.
ONE_TEMPLATE = Format("_1tmpl", inverted_templates=False, max_templates=1)
# Every example keeps its answer choices, to be scored one by one.
RANK_CLASSIFICATION = Format("_rank", inverted_templates=False)

# FLAN 2022 weights these four equally.
FLAN2022_FORMATS = (ZERO_SHOT, ZERO_SHOT_NO_OPTIONS, FEW_SHOT, FEW_SHOT_NO_OPTIONS)
ALL_FORMATS = FLAN2022_FORMATS + (COT, FEW_SHOT_COT, NO_INSTRUCTIONS, ONE_TEMPLATE)

# Few-shot prompts: up to this many exemplars, added only while the prompt fits the budget.
MAX_SHOTS = 3
FEW_SHOT_INPUT_TOKENS = 480
EXEMPLAR_SEPARATOR = "\n\n"
