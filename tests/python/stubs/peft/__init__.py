"""`peft` stand-in (see torch/__init__.py): only model code uses it; using it raises."""
import sys

import torch  # installs the finder for submodules

__version__ = "0.15.2"
sys.modules[__name__].__class__ = type(torch)
