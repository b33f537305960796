"""Everything a gin file may name, registered in one import.

Our own configurables register where they are defined; third-party classes (seqio feature
converters) are registered here under their package's name.
"""
import gin
import seqio

import models
from models.config import ModelConfig
from trainer import loop, optimizers, partitioning  # pylint: disable=unused-import

for _converter in (seqio.EncDecFeatureConverter, seqio.DecoderFeatureConverter,
                   seqio.LMFeatureConverter, seqio.PrefixLMFeatureConverter):
  gin.external_configurable(_converter, module="seqio")


@gin.configurable(module="models")
def make_model(config: ModelConfig = gin.REQUIRED):
  """The Flax module for `config`: encoder-decoder when it has encoder layers."""
  return (models.EncoderDecoder if config.is_encoder_decoder else models.DecoderOnly)(config)
