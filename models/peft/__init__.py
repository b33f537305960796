"""Parameter-efficient tuning applied to the unchanged networks (see method.py): LoRA,
(IA)^3, BitFit, bottleneck adapters, prompt tuning, P-tuning, prefix tuning and P-tuning v2,
each selected in gin (`PEFT = @lora()`)."""
from models.peft.adapters import Adapters
from models.peft.bitfit import BitFit
from models.peft.ia3 import IA3
from models.peft.lora import LoRA
from models.peft.method import PeftMethod
from models.peft.p_tuning import PTuning
from models.peft.param_trees import join
from models.peft.peft_module import PeftModule
from models.peft.prefixes import PrefixTuning, PTuningV2
from models.peft.soft_prompts import PromptTuning

__all__ = ["Adapters", "BitFit", "IA3", "LoRA", "PeftMethod", "PeftModule", "PrefixTuning",
           "PromptTuning", "PTuning", "PTuningV2", "join"]
