"""A stand-in for `torch` so that the frameworks' data code can be imported without the
2 GB CUDA wheel. LLaMA-Factory and Axolotl import torch at module level for their
training code; the data path these tests drive (dataset parsing, conversion, templating,
tokenization, label masking) never calls it. Anything that *uses* this stub raises, so a
test can pass only if the real data path ran without torch.
"""
import importlib.abc
import importlib.machinery
import sys
import types

# Below transformers' minimum (2.6), so transformers takes its no-torch paths.
__version__ = "0.0.0+stub"

# Packages imported by the frameworks' training code only (peft wraps models, never data).
STUBBED = {"torch", "torchaudio", "torchvision", "peft"}


class TorchStubUsed(RuntimeError):
    pass


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{cls.__name__}.{name}")

    def __call__(cls, *args, **kwargs):
        # Hardware queries made at import time: there is no accelerator.
        if cls.__name__.endswith(("is_available", "is_built", "device_count")):
            return False
        raise TorchStubUsed(f"the torch stub was used: {cls.__name__}(...)")

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    def __ror__(cls, other):
        return cls


def _stub_class(name):
    return _Meta(name, (), {})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{self.__name__}.{name}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in STUBBED and "." in fullname:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Finder())
sys.modules[__name__].__class__ = _StubModule
__path__ = __path__  # a package: submodules come from the finder
