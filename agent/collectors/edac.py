"""Memory ECC error counts from the kernel's EDAC driver.

The counts are the kernel's cumulative counters (since boot or the driver's
last reset); they are reported as they are, as counters, so an analyzer or a
dashboard sees every increase.  DIMM-level counts come from ONE of the kernel's
two views of the same DIMMs: `dimmM/` (or `rankM/`), present on every driver
since Linux 3.6, when the controller has it, the legacy `csrowK/chJ_*` view
only when it does not.  A kernel built with CONFIG_EDAC_LEGACY_SYSFS shows
both views of the same counters; reading both would count every error twice
and report each DIMM under two keys.  DIMMs are labelled with the label the
kernel gives, or with their position when the label is empty.  Memory hardware
changes slowly, so the default interval is a minute (`collector.edac_interval_secs`).
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.collectors.base import (
    MetricSpec,
    SampleBuilder,
    Samples,
    SourceMissing,
    counter,
    labels,
    read_int,
    read_optional,
)
from agent.plugins import CollectorPlugin

_MC = "/sys/devices/system/edac/mc/mc*/"
METRICS: tuple[MetricSpec, ...] = (
    counter("ecc_correctable_errors", "errors", ("mc",), _MC + "ce_count", "Correctable ECC errors of one memory controller."),
    counter("ecc_uncorrectable_errors", "errors", ("mc",), _MC + "ue_count", "Uncorrectable ECC errors of one memory controller."),
    counter("ecc_correctable_noinfo_errors", "errors", ("mc",), _MC + "ce_noinfo_count", "Correctable errors the driver could not attribute to a DIMM."),
    counter("ecc_uncorrectable_noinfo_errors", "errors", ("mc",), _MC + "ue_noinfo_count", "Uncorrectable errors the driver could not attribute to a DIMM."),
    counter("ecc_dimm_correctable_errors", "errors", ("mc", "dimm"), _MC + "dimm*/dimm_ce_count, csrow*/ch*_ce_count", "Correctable ECC errors of one DIMM (or csrow channel)."),
    counter("ecc_dimm_uncorrectable_errors", "errors", ("mc", "dimm"), _MC + "dimm*/dimm_ue_count, csrow*/ch*_ue_count", "Uncorrectable ECC errors of one DIMM (or csrow channel)."),
)  # fmt: skip

_MC_DIR = re.compile(r"mc(\d+)$")
_DIMM_DIR = re.compile(r"(?:dimm|rank)(\d+)$")
_CSROW_DIR = re.compile(r"csrow(\d+)$")
_CHANNEL_FILE = re.compile(r"ch(\d+)_(ce|ue)_count$")


def _sorted_matches(directory: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := pattern.match(p.name))]
    return sorted(found)


class EdacCollector:
    name = "edac"
    metrics = METRICS

    def __init__(self, sysfs: Path) -> None:
        self._root = sysfs / "devices/system/edac/mc"

    def collect(self) -> Samples:
        try:
            controllers = _sorted_matches(self._root, _MC_DIR)
        except FileNotFoundError:
            raise SourceMissing("no EDAC driver loaded (no /sys/devices/system/edac/mc)") from None
        if not controllers:
            raise SourceMissing("the EDAC driver reports no memory controller")
        out = SampleBuilder()
        for index, mc in controllers:
            mc_labels = labels(mc=str(index))
            for metric, attribute in (
                ("ecc_correctable_errors", "ce_count"),
                ("ecc_uncorrectable_errors", "ue_count"),
                ("ecc_correctable_noinfo_errors", "ce_noinfo_count"),
                ("ecc_uncorrectable_noinfo_errors", "ue_noinfo_count"),
            ):
                value = read_int(mc / attribute)
                if value is not None:
                    out.add(metric, value, mc_labels)
            self._dimms(out, str(index), mc)
        return out.build()

    def _dimms(self, out: SampleBuilder, mc: str, path: Path) -> None:
        dimms = _sorted_matches(path, _DIMM_DIR)
        for index, dimm in dimms:
            name = _label(dimm / "dimm_label") or f"{dimm.name.rstrip('0123456789')}{index}"
            for metric, attribute in (
                ("ecc_dimm_correctable_errors", "dimm_ce_count"),
                ("ecc_dimm_uncorrectable_errors", "dimm_ue_count"),
            ):
                value = read_int(dimm / attribute)
                if value is not None:
                    out.add(metric, value, labels(mc=mc, dimm=name))
        if dimms:
            return  # the csrow view, if any, is the legacy copy of the same counters
        for row, csrow in _sorted_matches(path, _CSROW_DIR):
            for file in sorted(csrow.iterdir()):
                match = _CHANNEL_FILE.match(file.name)
                value = read_int(file) if match else None
                if match is None or value is None:
                    continue
                channel, kind = match.groups()
                name = _label(csrow / f"ch{channel}_dimm_label") or f"csrow{row}_ch{channel}"
                metric = (
                    "ecc_dimm_correctable_errors"
                    if kind == "ce"
                    else "ecc_dimm_uncorrectable_errors"
                )
                out.add(metric, value, labels(mc=mc, dimm=name))


def _label(path: Path) -> str:
    return (read_optional(path) or "").strip()


PLUGIN = CollectorPlugin(
    name="edac",
    order=40,
    interval_key="collector.edac_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: (
        EdacCollector(Path(settings.agent.sysfs)) if settings.cpu.ecc_monitoring else None
    ),
)
