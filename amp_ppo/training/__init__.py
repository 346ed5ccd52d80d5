"""The trainer layer: `amp_ppo.train` and the extension it hands Brax's PPO.

  drop_in    `train`: Brax PPO's signature plus amp_ppo's keyword arguments;
             checks every argument, builds the components, calls the
             vendored trainer
  extension  `RunExtension`: the AMP, reliability and style-evaluation
             components behind the vendored trainer's one interface
             (amp_ppo/trainer_extension.py)
  evaluator  `compiles_once`: Brax's evaluator without its second compile
  amp_ppo.brax_ppo_vendored (third_party/brax_ppo_vendored/): Brax's
             ppo/train.py with patches/
"""

from amp_ppo.training.drop_in import train
from amp_ppo.training.extension import StyleReference
