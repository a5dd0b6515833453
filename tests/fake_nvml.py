"""A stand-in for the NVML C library, for machines without an NVIDIA GPU.

Only the device-query functions are replaced; constants and the NVMLError
classes are the real ones from nvidia-ml-py (`NVMLError(code)` builds the
documented subclass, e.g. NVMLError_NotSupported for code 3), so the collector
is tested against NVML's documented error behaviour, not an invention.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import pynvml


@dataclass
class FakeGpu:
    name: str = "NVIDIA A100-SXM4-80GB"
    util_gpu: int = 42
    util_memory: int = 17
    memory_total: int = 80 * 1024**3
    memory_used: int = 20 * 1024**3
    temperature: int = 64
    power_mw: int = 250_000
    power_limit_mw: int = 400_000
    ecc_corrected: int = 3
    ecc_uncorrected: int = 0
    throttle: int = 0
    pcie_replays: int = 1
    remapped_rows: tuple[int, int, int, int] | None = (0, 0, 0, 0)
    retired_pages: dict[int, list[int]] = field(default_factory=dict)
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    unsupported: set[str] = field(
        default_factory=set
    )  # NVML function names answering NOT_SUPPORTED
    lost: bool = False


def build(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    for name, value in vars(pynvml).items():
        if name.startswith(("NVML_", "NVMLError", "nvmlClocksThrottleReason")):
            setattr(module, name, value)
    state = {"initialised": False}

    def check(gpu: FakeGpu, function: str) -> None:
        if gpu.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        if function in gpu.unsupported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def query(function: str, answer: Any) -> Any:
        def call(handle: FakeGpu, *args: Any) -> Any:
            check(handle, function)
            return answer(handle, *args)

        return call

    def init() -> None:
        if init_error is not None:
            raise pynvml.NVMLError(init_error)
        state["initialised"] = True

    def handle_by_index(index: int) -> FakeGpu:
        if index >= len(gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        check(gpus[index], "nvmlDeviceGetHandleByIndex")
        return gpus[index]

    module.nvmlInit = init
    module.nvmlSystemGetDriverVersion = lambda: "535.129.03"
    module.nvmlSystemGetCudaDriverVersion = lambda: 12020
    module.nvmlDeviceGetUUID = query("nvmlDeviceGetUUID", lambda g: "GPU-" + g.name[-4:])
    module.nvmlDeviceGetCurrPcieLinkGeneration = query(
        "nvmlDeviceGetCurrPcieLinkGeneration", lambda g: 4
    )
    module.nvmlDeviceGetCurrPcieLinkWidth = query("nvmlDeviceGetCurrPcieLinkWidth", lambda g: 16)
    module.nvmlDeviceGetEccMode = query("nvmlDeviceGetEccMode", lambda g: (1, 1))
    module.nvmlShutdown = lambda: state.update(initialised=False)
    module.nvmlDeviceGetCount = lambda: len(gpus)
    module.nvmlDeviceGetHandleByIndex = handle_by_index
    module.nvmlDeviceGetName = query("nvmlDeviceGetName", lambda g: g.name)
    module.nvmlDeviceGetUtilizationRates = query(
        "nvmlDeviceGetUtilizationRates",
        lambda g: types.SimpleNamespace(gpu=g.util_gpu, memory=g.util_memory),
    )
    module.nvmlDeviceGetMemoryInfo = query(
        "nvmlDeviceGetMemoryInfo",
        lambda g: types.SimpleNamespace(
            total=g.memory_total, used=g.memory_used, free=g.memory_total - g.memory_used
        ),
    )
    module.nvmlDeviceGetTemperature = query(
        "nvmlDeviceGetTemperature", lambda g, sensor: g.temperature
    )
    module.nvmlDeviceGetPowerUsage = query("nvmlDeviceGetPowerUsage", lambda g: g.power_mw)
    module.nvmlDeviceGetEnforcedPowerLimit = query(
        "nvmlDeviceGetEnforcedPowerLimit", lambda g: g.power_limit_mw
    )
    module.nvmlDeviceGetTotalEccErrors = query(
        "nvmlDeviceGetTotalEccErrors",
        lambda g, kind, counter: (
            g.ecc_corrected
            if kind == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
            else g.ecc_uncorrected
        ),
    )
    module.nvmlDeviceGetCurrentClocksThrottleReasons = query(
        "nvmlDeviceGetCurrentClocksThrottleReasons", lambda g: g.throttle
    )
    module.nvmlDeviceGetPcieReplayCounter = query(
        "nvmlDeviceGetPcieReplayCounter", lambda g: g.pcie_replays
    )

    def remapped(g: FakeGpu) -> tuple[int, int, int, int]:
        if g.remapped_rows is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return g.remapped_rows

    module.nvmlDeviceGetRemappedRows = query("nvmlDeviceGetRemappedRows", remapped)
    module.nvmlDeviceGetRetiredPages = query(
        "nvmlDeviceGetRetiredPages", lambda g, cause: g.retired_pages.get(cause, [])
    )
    module.nvmlDeviceGetComputeRunningProcesses = query(
        "nvmlDeviceGetComputeRunningProcesses",
        lambda g: [types.SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in g.processes],
    )
    return module
