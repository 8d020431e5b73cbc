"""int8 dynamic quantisation for serving: smaller linear layers, faster matrix products on CPU."""
from __future__ import annotations

import warnings

import torch

from .model import NluModel


def quantize_int8(model: NluModel) -> NluModel:
    """A copy of `model` whose linear layers hold int8 weights (activations are quantised per call).

    Embeddings (token, position, n-gram bag) stay float: they are lookups, not matrix products.
    """
    with warnings.catch_warnings():
        # torch marks its eager-mode quantisation API deprecated in favour of torchao, which is
        # not a dependency here; the API still works in the pinned torch.
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
