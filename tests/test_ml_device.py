"""`--device auto|cpu|cuda`: one rule for every model."""

import pytest
import torch

from liverview.ml.device import DeviceUnavailableError, resolve_device


def test_auto_is_cuda_when_present_else_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_with_what_to_use():
    with pytest.raises(DeviceUnavailableError, match="use --device cpu"):
        resolve_device("cuda")


def test_unknown_device_names_the_choices():
    with pytest.raises(DeviceUnavailableError, match="auto, cpu or cuda"):
        resolve_device("tpu")
