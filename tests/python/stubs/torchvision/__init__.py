"""`torchvision` stand-in (see torch/__init__.py): only media and model code uses it; using it raises."""
import sys

import torch  # installs the finder for submodules

sys.modules[__name__].__class__ = type(torch)
