"""Everything a gin file may name, registered in one import.

Our own configurables register where they are defined; third-party classes (seqio feature
converters) are registered here under their package's name.
"""
import gin
import seqio

import models
from models.config import ModelConfig
from tasks import vocab as vocab_lib
from trainer import loop, optimizers, partitioning  # pylint: disable=unused-import

for _converter in (seqio.EncDecFeatureConverter, seqio.DecoderFeatureConverter,
                   seqio.LMFeatureConverter, seqio.PrefixLMFeatureConverter):
  gin.external_configurable(_converter, module="seqio")
# VOCABULARY = @tasks.default_vocabulary() (the RLHF stages' default), or a model's own.
gin.external_configurable(vocab_lib.default_vocabulary, module="tasks")
gin.external_configurable(vocab_lib.TokenizersVocabulary, module="tasks")


@gin.configurable(module="models")
def make_model(config: ModelConfig = gin.REQUIRED):
  """The Flax module for `config`: encoder-decoder when it has encoder layers."""
  return (models.EncoderDecoder if config.is_encoder_decoder else models.DecoderOnly)(config)
