"""Everything a gin file may name, registered in one import.

Our own configurables register where they are defined; importing their modules here is
what makes the names known (the model kinds, the stages, optimizers, meshes).
"""
import gin

import models.model_kinds  # pylint: disable=unused-import
from tasks import vocab as vocab_lib
from trainer import loop, optimizers, partitioning  # pylint: disable=unused-import

# VOCABULARY = @tasks.default_vocabulary() (the RLHF stages' default), or a model's own.
gin.external_configurable(vocab_lib.default_vocabulary, module="tasks")
gin.external_configurable(vocab_lib.TokenizersVocabulary, module="tasks")
