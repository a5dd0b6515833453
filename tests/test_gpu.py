"""GPU collector against a fake NVML (no GPU here) and against the real library's absence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from agent.collectors.base import SourceMissing
from agent.collectors.gpu import GpuCollector
from tests.conftest import REPO
from tests.fake_nvml import FakeGpu, build
from tests.test_collectors import as_dict, value


def test_real_nvml_without_a_driver_is_absent_not_an_error() -> None:
    # This machine has nvidia-ml-py but no libnvidia-ml.so: the documented LibraryNotFound.
    with pytest.raises(SourceMissing, match="NVML is not usable here"):
        GpuCollector().collect()


def test_without_the_nvidia_driver_nvml_is_not_even_loaded(tmp_path: Path) -> None:
    """No /proc/driver/nvidia: absent with the reason, and pynvml is never imported."""
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from agent.collectors.base import SourceMissing\n"
        "from agent.collectors.gpu import GpuCollector\n"
        "from agent.inventory import Notes, gpu_section\n"
        f"marker = Path({str(tmp_path / 'driver/nvidia/version')!r})\n"
        "try:\n    GpuCollector(driver_marker=marker).collect()\n"
        "except SourceMissing as exc:\n    print(exc)\n"
        "notes = Notes()\nassert gpu_section(notes, driver_marker=marker) == []\n"
        "print('pynvml' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"no NVIDIA driver loaded (no {tmp_path}/driver/nvidia/version)",
        "False",
    ]


def test_all_fields_of_a_healthy_gpu() -> None:
    gpu = FakeGpu(processes=[(4242, 1024**3), (4243, None)], throttle=0x1)
    samples = GpuCollector(build([gpu])).collect()
    assert value(samples, "gpus") == 1 and value(samples, "gpu_up", gpu="0") == 1
    assert value(samples, "gpu_utilization_percent", gpu="0", model="NVIDIA A100-SXM4-80GB") == 42
    assert value(samples, "gpu_memory_used_percent", gpu="0") == 25.0
    assert value(samples, "gpu_memory_total_bytes", gpu="0") == 80 * 1024**3
    assert value(samples, "gpu_temperature_celsius", gpu="0") == 64
    assert value(samples, "gpu_power_watts", gpu="0") == 250.0  # NVML reports milliwatts
    assert value(samples, "gpu_power_limit_watts", gpu="0") == 400.0
    assert value(samples, "gpu_power_percent", gpu="0") == 62.5
    assert value(samples, "gpu_ecc_corrected_errors", gpu="0") == 3
    assert (
        value(samples, "gpu_throttle_reasons", gpu="0") == 1
        and value(samples, "gpu_throttled", gpu="0") == 0
    )
    assert value(samples, "gpu_pcie_replay_errors", gpu="0") == 1
    assert value(samples, "gpu_remapped_rows_failed", gpu="0") == 0
    assert value(samples, "gpu_process_memory_bytes", gpu="0", pid="4242") == 1024**3
    assert ("gpu_process_memory_bytes", (("gpu", "0"), ("pid", "4243"))) not in as_dict(samples)


def test_not_supported_drops_only_that_field() -> None:
    gpu = FakeGpu(unsupported={"nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetPowerUsage"}, remapped_rows=None,
                  retired_pages={pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: [1, 2]})  # fmt: skip
    samples = as_dict(GpuCollector(build([gpu])).collect())
    metrics = {metric for metric, _ in samples}
    assert "gpu_ecc_corrected_errors" not in metrics and "gpu_power_watts" not in metrics
    assert "gpu_power_percent" not in metrics and "gpu_power_limit_watts" in metrics
    assert samples[("gpu_retired_pages", (("gpu", "0"),))] == 2
    assert samples[("gpu_up", (("gpu", "0"),))] == 1


def test_a_lost_gpu_and_one_that_fell_off_the_bus_are_reported_down() -> None:
    gpus = [FakeGpu(), FakeGpu(name="NVIDIA H100")]
    module = build(gpus)
    collector = GpuCollector(module)
    assert value(collector.collect(), "gpu_up", gpu="1") == 1
    gpus[0].lost = True
    samples = collector.collect()
    assert value(samples, "gpu_up", gpu="0") == 0
    assert not any(
        k.metric == "gpu_temperature_celsius" and k.labels == (("gpu", "0"),) for k in samples.keys
    )
    gpus.pop()  # GPU 1 vanished: NVML now counts one device
    samples = collector.collect()
    assert value(samples, "gpus") == 1 and value(samples, "gpu_up", gpu="1") == 0


def test_no_gpu_or_no_driver_is_absent() -> None:
    with pytest.raises(SourceMissing, match="no GPU"):
        GpuCollector(build([])).collect()
    with pytest.raises(SourceMissing, match="Driver Not Loaded"):
        GpuCollector(build([FakeGpu()], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)).collect()
