"""NVIDIA GPUs through NVML (package nvidia-ml-py, module `pynvml`), imported lazily.

No library, no driver or no GPU: the domain reports itself absent once and the
rest of the agent runs.  Each field is guarded on its own: NVML answers
NOT_SUPPORTED for ECC, power or replay counters on consumer boards and in VMs,
and that drops the field, not the GPU.  A GPU that stops answering (GPU_IS_LOST,
or fewer GPUs than at start: "fell off the bus") is reported as `gpu_up 0`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.collectors.base import (
    MetricSpec,
    SampleBuilder,
    Samples,
    SourceMissing,
    counter,
    gauge,
    labels,
)
from agent.plugins import CollectorPlugin

log = logging.getLogger(__name__)

_NVML = "NVML"
# Present (under procfs) whenever the NVIDIA kernel driver is loaded.
DRIVER_MARKER = "driver/nvidia/version"
_G = ("gpu",)
METRICS: tuple[MetricSpec, ...] = (
    gauge("gpus", "gpus", (), _NVML, "GPUs NVML reports now."),
    gauge("gpu_up", "boolean", _G, _NVML, "1 while the GPU answers NVML; 0 once it is lost or gone from the bus."),
    gauge("gpu_utilization_percent", "percent", ("gpu", "model"), _NVML, "Share of the last sample period a kernel ran on the GPU."),
    gauge("gpu_memory_utilization_percent", "percent", _G, _NVML, "Share of the last sample period device memory was read or written."),
    gauge("gpu_memory_used_bytes", "bytes", _G, _NVML, "Device memory in use."),
    gauge("gpu_memory_total_bytes", "bytes", _G, _NVML, "Device memory size."),
    gauge("gpu_memory_used_percent", "percent", _G, _NVML, "Device memory in use as a share of its size."),
    gauge("gpu_temperature_celsius", "celsius", _G, _NVML, "Core temperature."),
    gauge("gpu_power_watts", "watts", _G, _NVML, "Power draw."),
    gauge("gpu_power_limit_watts", "watts", _G, _NVML, "Enforced power limit."),
    gauge("gpu_power_percent", "percent", _G, _NVML, "Power draw as a share of the enforced limit."),
    counter("gpu_ecc_corrected_errors", "errors", _G, _NVML, "Corrected ECC errors since the driver loaded (volatile)."),
    counter("gpu_ecc_uncorrected_errors", "errors", _G, _NVML, "Uncorrected ECC errors since the driver loaded (volatile)."),
    gauge("gpu_throttle_reasons", "bitmask", _G, _NVML, "NVML clock throttle (event) reasons bitmask."),
    gauge("gpu_throttled", "boolean", _G, _NVML, "1 when clocks are held down for a reason other than idle or application clocks."),
    counter("gpu_pcie_replay_errors", "errors", _G, _NVML, "PCIe replay counter (link errors retried)."),
    gauge("gpu_retired_pages", "pages", _G, _NVML, "Memory pages retired for ECC errors (pre-Ampere)."),
    gauge("gpu_remapped_rows_pending", "boolean", _G, _NVML, "1 when a row remapping waits for a GPU reset (Ampere+)."),
    gauge("gpu_remapped_rows_failed", "boolean", _G, _NVML, "1 when a row remapping failed: the GPU needs service (Ampere+)."),
    gauge("gpu_process_memory_bytes", "bytes", ("gpu", "pid"), _NVML, "Device memory used by one compute process."),
)  # fmt: skip

# Throttle reasons that are not a problem: the GPU is idle, or clocks are set by the admin.
_BENIGN_THROTTLE = 0x1 | 0x2  # GpuIdle | ApplicationsClocksSetting


class GpuCollector:
    name = "gpu"
    metrics = METRICS

    def __init__(self, nvml: ModuleType | None = None, driver_marker: Path | None = None) -> None:
        self._nvml = nvml
        # Without the kernel driver NVML cannot work; checking for it first keeps
        # pynvml (about 1.5 MB resident with ctypes) out of every GPU-less host.
        self._driver_marker = driver_marker
        self._initialised = False
        self._expected = 0
        self._models: dict[int, str] = {}

    def _start(self) -> ModuleType:
        if self._nvml is None:
            if self._driver_marker is not None and not self._driver_marker.exists():
                raise SourceMissing(f"no NVIDIA driver loaded (no {self._driver_marker})")
            try:
                import pynvml
            except ImportError:
                raise SourceMissing(
                    "nvidia-ml-py is not installed (pip install 'sysops-agent[gpu]')"
                ) from None
            self._nvml = pynvml
        nvml = self._nvml
        if not self._initialised:
            try:
                nvml.nvmlInit()
            except nvml.NVMLError as exc:
                raise SourceMissing(f"NVML is not usable here: {exc}") from None
            self._initialised = True
            self._expected = nvml.nvmlDeviceGetCount()
            if self._expected == 0:
                raise SourceMissing("NVML reports no GPU")
        return nvml

    def close(self) -> None:
        if self._initialised and self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._initialised = False

    def collect(self) -> Samples:
        nvml = self._start()
        out = SampleBuilder()
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            log.warning("NVML cannot count GPUs: %s", exc)
            count = 0
        out.add("gpus", float(count))
        self._expected = max(self._expected, count)
        for index in range(self._expected):
            gpu_labels = labels(gpu=str(index))
            device = SampleBuilder()  # merged only if the GPU answered throughout
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                model = self._model(nvml, index, handle)
                self._device(nvml, device, handle, gpu_labels, model)
            except nvml.NVMLError as exc:
                # Lost, or gone from the bus: say so every tick, it is the alert that matters.
                log.debug("GPU %d does not answer: %s", index, exc)
                out.add("gpu_up", 0.0, gpu_labels)
                continue
            out.extend(device)
            out.add("gpu_up", 1.0, gpu_labels)
        return out.build()

    def _model(self, nvml: ModuleType, index: int, handle: Any) -> str:
        if index not in self._models:
            name = nvml.nvmlDeviceGetName(handle)
            self._models[index] = name.decode() if isinstance(name, bytes) else str(name)
        return self._models[index]

    def _device(
        self, nvml: ModuleType, out: SampleBuilder, h: Any, gpu_labels: Any, model: str
    ) -> None:
        lost = nvml.NVMLError_GpuIsLost

        def field(call: Any, *args: Any) -> Any:
            """One NVML call; unsupported or failing fields are dropped, a lost GPU is not."""
            try:
                return call(h, *args)
            except lost:
                raise
            except nvml.NVMLError:
                return None

        util = field(nvml.nvmlDeviceGetUtilizationRates)
        if util is not None:
            out.add("gpu_utilization_percent", float(util.gpu), (*gpu_labels, ("model", model)))
            out.add("gpu_memory_utilization_percent", float(util.memory), gpu_labels)
        memory = field(nvml.nvmlDeviceGetMemoryInfo)
        if memory is not None:
            out.add("gpu_memory_used_bytes", float(memory.used), gpu_labels)
            out.add("gpu_memory_total_bytes", float(memory.total), gpu_labels)
            used_percent = 100.0 * memory.used / memory.total if memory.total else 0.0
            out.add("gpu_memory_used_percent", used_percent, gpu_labels)
        temperature = field(nvml.nvmlDeviceGetTemperature, nvml.NVML_TEMPERATURE_GPU)
        if temperature is not None:
            out.add("gpu_temperature_celsius", float(temperature), gpu_labels)
        power_mw = field(nvml.nvmlDeviceGetPowerUsage)
        limit_mw = field(nvml.nvmlDeviceGetEnforcedPowerLimit)
        if power_mw is not None:
            out.add("gpu_power_watts", power_mw / 1000.0, gpu_labels)
        if limit_mw:
            out.add("gpu_power_limit_watts", limit_mw / 1000.0, gpu_labels)
            if power_mw is not None:
                out.add("gpu_power_percent", 100.0 * power_mw / limit_mw, gpu_labels)
        for metric, kind in (
            ("gpu_ecc_corrected_errors", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("gpu_ecc_uncorrected_errors", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        ):
            errors = field(nvml.nvmlDeviceGetTotalEccErrors, kind, nvml.NVML_VOLATILE_ECC)
            if errors is not None:
                out.add(metric, float(errors), gpu_labels)
        reasons = field(nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
        if reasons is not None:
            out.add("gpu_throttle_reasons", float(reasons), gpu_labels)
            out.add("gpu_throttled", 1.0 if reasons & ~_BENIGN_THROTTLE else 0.0, gpu_labels)
        replays = field(nvml.nvmlDeviceGetPcieReplayCounter)
        if replays is not None:
            out.add("gpu_pcie_replay_errors", float(replays), gpu_labels)
        self._memory_health(nvml, out, field, gpu_labels)
        processes = field(nvml.nvmlDeviceGetComputeRunningProcesses)
        for process in processes or ():
            if process.usedGpuMemory is not None:
                proc_labels = (*gpu_labels, ("pid", str(process.pid)))
                out.add("gpu_process_memory_bytes", float(process.usedGpuMemory), proc_labels)

    @staticmethod
    def _memory_health(nvml: ModuleType, out: SampleBuilder, field: Any, gpu_labels: Any) -> None:
        rows = field(nvml.nvmlDeviceGetRemappedRows)
        if rows is not None:  # Ampere and newer: (corrected, uncorrected, pending, failed)
            out.add("gpu_remapped_rows_pending", float(bool(rows[2])), gpu_labels)
            out.add("gpu_remapped_rows_failed", float(bool(rows[3])), gpu_labels)
            return
        retired = 0
        supported = False
        for cause in (
            nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
            nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
        ):
            pages = field(nvml.nvmlDeviceGetRetiredPages, cause)
            if pages is not None:
                supported = True
                retired += len(pages)
        if supported:
            out.add("gpu_retired_pages", float(retired), gpu_labels)


PLUGIN = CollectorPlugin(
    name="gpu",
    order=100,
    interval_key="collector.gpu_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: GpuCollector(
        driver_marker=Path(settings.agent.procfs) / DRIVER_MARKER
    ),
)
