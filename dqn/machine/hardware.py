"""What the machine computes fast: the device, the network's precision and the torch threads.

bfloat16 halves the work of the Nature CNN only where the hardware has bfloat16 instructions
(AVX512_BF16 or AMX on x86 CPUs, CUDA GPUs that support it). Elsewhere PyTorch emulates it,
and it runs several times slower than float32 (measured 7x on an AVX2-only EPYC), so `auto`
picks it only where it is native.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import torch

from dqn.errors import UserError

# x86 feature flags (Linux /proc/cpuinfo names) that make bfloat16 matrix work native
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
PRECISIONS = ("auto", "fp32", "bf16")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The processor's model name and feature flags (none where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == platform.machine():
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def cpu_capability() -> str:
    """The vector instruction set PyTorch's CPU kernels use here: AVX2, AVX512, ..."""
    return torch.backends.cpu.get_cpu_capability()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA device is available")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether this device computes bfloat16 in hardware, not by emulation."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # PyTorch's AVX2 kernels emulate bfloat16 even on a CPU that has the instructions
    # (for instance under ATEN_CPU_CAPABILITY=avx2), so both must say yes.
    return cpu_capability() == "AVX512" and bool(cpu_info()[1] & BF16_CPU_FLAGS)


def resolve_precision(requested: str, device: torch.device) -> str:
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return requested


def usable_cores() -> int:
    """Physical cores this process may run on (hyperthreads do not speed up convolutions)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or allowed
    return max(1, min(allowed, physical))


def resolve_threads(requested: int | str, image_observations: bool) -> int:
    """`auto`: every usable core for a CNN; one thread for an MLP, whose tiny matrices run
    slower when split across threads than the threads cost to wake."""
    if requested != "auto":
        return int(requested)
    return usable_cores() if image_observations else 1


@dataclass(frozen=True)
class Runtime:
    """What a run computes on: chosen from the config's requests and the machine."""

    device: str
    precision: str
    native_bf16: bool
    torch_threads: int
    cpu_model: str
    cpu_capability: str

    def describe(self) -> str:
        where = (f"CUDA ({torch.cuda.get_device_name(0)})" if self.device == "cuda"
                 else f"CPU {self.cpu_model} ({self.cpu_capability})")
        text = f"{where}, {self.precision}, {self.torch_threads} torch thread{'s' * (self.torch_threads > 1)}"
        if self.precision == "bf16" and not self.native_bf16:
            text += "; bf16 is emulated here, expect it several times slower than --precision fp32"
        return text

    def to_dict(self) -> dict:
        return asdict(self)

    def autocast(self):
        """Where forward passes run: in bfloat16 autocast when the precision is bf16."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=torch.bfloat16)


def choose_runtime(device: str, precision: str, torch_threads: int | str,
                   image_observations: bool) -> Runtime:
    """Resolve the config's device, precision and threads (each may be `auto`) on this machine."""
    resolved = resolve_device(device)
    return Runtime(device=resolved.type, precision=resolve_precision(precision, resolved),
                   native_bf16=native_bf16(resolved),
                   torch_threads=resolve_threads(torch_threads, image_observations),
                   cpu_model=cpu_info()[0], cpu_capability=cpu_capability())
