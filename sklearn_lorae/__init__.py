"""Low-rank autoencoders (LoRAE, IRMAE, plain AE) as scikit-learn estimators."""

from .generator import LoRAEGenerator
from .transformer import LoRAETransformer

__version__ = "0.1.0.dev0"

__all__ = ["LoRAETransformer", "LoRAEGenerator", "__version__"]
