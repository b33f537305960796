"""Everything a gin file may name, registered in one import.

Our own configurables register where they are defined; importing their modules here is
what makes the names known (the model kinds, the stages, optimizers, meshes).
"""
import models.model_kinds  # pylint: disable=unused-import
from trainer import loop, optimizers, partitioning  # pylint: disable=unused-import
