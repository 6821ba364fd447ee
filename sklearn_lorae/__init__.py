"""Low-rank autoencoders (LoRAE) and their relatives (IRMAE, RRAE, VAE, RAE, WAE, plain AE)
as scikit-learn estimators trained by skorch."""

from ._persistence import load_model, save_model
from .generator import LoRAEGenerator
from .transformer import LoRAETransformer

__version__ = "0.1.0.dev0"

__all__ = ["LoRAETransformer", "LoRAEGenerator", "save_model", "load_model", "__version__"]
