"""Which torch device a model runs on: `--device auto` means CUDA when present, else the CPU."""

from __future__ import annotations

import torch


class DeviceUnavailableError(ValueError):
    """The device asked for does not exist on this machine; the message says what to use instead."""


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu', 'cuda', 'cuda:N' as given, refused when CUDA is absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"device '{device}' was asked for but CUDA is not available on this machine; "
                                     "use --device cpu or --device auto")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise DeviceUnavailableError(f"unknown device '{device}': use auto, cpu or cuda[:N]") from exc
