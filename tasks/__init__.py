"""instructax data: seqio tasks and mixtures for instruction tuning.

`import tasks` registers every task and mixture (no data is generated or read here):
the embedded instruction suite in all its formats and its mixtures (`instruct_suite`,
`instruct_suite_without_<cluster>`, `instruct_suite_heldout_<cluster>`,
`instruct_suite_heldout_<cluster>_rank`, `instruct_suite_noinstr`,
`instruct_suite_flan2022`, ...), and FLAN/T0 datasets over
TFDS (`flan_<name>`, data read only when asked for), and apart from those the tool-use
suite (`tool_<type>...`, its mixture `tool_suite` and with the suite's tasks
`tool_suite_sft`, see tasks/tool_suite_tasks.py) and
the pretraining objectives over plain-text corpora (`pretrain_<objective>_<corpus>`,
mixtures `pretrain_<objective>`, see tasks/pretrain_tasks.py).
"""
from tasks import flan_datasets as _flan_datasets
from tasks import mixtures as _mixtures
from tasks import pretrain_tasks as _pretrain_tasks
from tasks import suite_tasks as _suite_tasks
from tasks import tool_suite_tasks as _tool_suite_tasks
from tasks.suite import CLUSTERS, RELATED_CLUSTERS
from tasks.vocab import default_vocabulary

SUITE_TASKS = _suite_tasks.register_all()
FLAN_TASKS = _flan_datasets.register_all()
TOOL_TASKS, TOOL_MIXTURE = _tool_suite_tasks.register_all()
PRETRAIN_TASKS, PRETRAIN_MIXTURES = _pretrain_tasks.register_all()
MIXTURES = _mixtures.register_all() + [TOOL_MIXTURE] + PRETRAIN_MIXTURES
DEFAULT_MIXTURE = _mixtures.DEFAULT_MIXTURE
MIXTURES.append(_tool_suite_tasks.register_sft_mixture(DEFAULT_MIXTURE))

__all__ = ["CLUSTERS", "DEFAULT_MIXTURE", "FLAN_TASKS", "MIXTURES", "PRETRAIN_MIXTURES",
           "PRETRAIN_TASKS", "RELATED_CLUSTERS", "SUITE_TASKS", "TOOL_MIXTURE", "TOOL_TASKS",
           "default_vocabulary"]
