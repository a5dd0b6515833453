"""The kernel log catalogue across kernel versions and drivers, and the severity rules.

Every positive line below is built from a printk/pr_*/dev_* format string of
the named kernel file and version (or driver), filled in with realistic
values; none is copied from a bug report.  The near misses are benign lines
from the same subsystems, which must stay silent.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from alerting.alert import Severity
from analyzers.logpatterns import (
    LogAlerter,
    LogLine,
    LogMatcher,
    any_of,
    build_patterns,
    refine_severity,
)

MATCHER = LogMatcher(build_patterns(segfaults=True))
DEFAULT = LogMatcher(build_patterns())  # segfaults off, as shipped

C, W, E, INFO = Severity.CRITICAL, Severity.WARN, Severity.EMERGENCY, Severity.INFO

# (line, pattern, severity, labels, source of the format)
POSITIVE = [
    # -- OOM ---------------------------------------------------------------------------------
    ("Out of memory: Kill process 4242 (java) score 912 or sacrifice child", "oom_kill", C,
     {"pid": "4242", "process": "java"}, "mm/oom_kill.c oom_kill_process, 3.10 and 4.18"),
    ("Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB", "oom_kill", C,
     {"pid": "4242", "process": "java"}, "mm/oom_kill.c oom_kill_process, 3.10"),
    ("Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB, shmem-rss:0kB", "oom_kill", C,
     {"pid": "4242", "process": "java"}, "mm/oom_kill.c __oom_kill_process, 4.18"),
    ("Killed process 3127, UID 48, (httpd) total-vm:412300kB, anon-rss:220012kB, file-rss:12kB", "oom_kill", C,
     {"pid": "3127", "process": "httpd"}, "mm/oom_kill.c oom_kill_task, 2.6.32 (RHEL 6)"),
    ("Memory cgroup out of memory: Kill process 771 (postgres) score 1000 or sacrifice child", "oom_kill", C,
     {"pid": "771", "process": "postgres"}, "mm/oom_kill.c oom_kill_process via mem_cgroup_out_of_memory, 3.10"),
    ("Out of memory (oom_kill_allocating_task): Kill process 9001 (stress) score 0 or sacrifice child", "oom_kill", C,
     {"pid": "9001", "process": "stress"}, "mm/oom_kill.c out_of_memory, 3.10-4.18"),
    ("Out of memory: Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB, shmem-rss:0kB, "
     "UID:1001 pgtables:30100kB oom_score_adj:0", "oom_kill", C, {"pid": "4242", "process": "java"},
     "mm/oom_kill.c __oom_kill_process, 5.4/5.14/5.15/6.8/mainline"),
    ("Memory cgroup out of memory: Killed process 771 (postgres) total-vm:2100000kB, anon-rss:1048000kB, file-rss:4kB, "
     "shmem-rss:0kB, UID:26 pgtables:2200kB oom_score_adj:0", "oom_kill", C, {"pid": "771", "process": "postgres"},
     "mm/oom_kill.c __oom_kill_process (memcg), 5.4+"),
    ("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/pod1,"
     "task_memcg=/kubepods/pod1/c1,task=nginx,pid=512,uid=101", "oom_kill", C, {"pid": "512", "process": "nginx"},
     "mm/oom_kill.c dump_oom_summary, 5.4+"),
    ("java invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0", "oom_invoked", C,
     {"process": "java"}, "mm/oom_kill.c dump_header, 3.10"),
    ("kworker/u16:2 invoked oom-killer: gfp_mask=0x6200ca(GFP_HIGHUSER_MOVABLE), nodemask=(null), order=0, oom_score_adj=0",
     "oom_invoked", C, {"process": "kworker/u16:2"},
     "mm/oom_kill.c dump_header, 4.9-4.20 (RHEL 8's 4.18); 5.0 moved the nodemask to the oom-kill: summary"),
    ("postgres invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0", "oom_invoked", C,
     {"process": "postgres"}, "mm/oom_kill.c dump_header, 6.8/mainline"),
    ("Task in /docker/3f2a killed as a result of limit of /docker/3f2a", "oom_memcg_limit", C, {},
     "mm/memcontrol.c mem_cgroup_print_oom_info, 3.10-4.18"),
    ("java: page allocation failure: order:4, mode:0x10c0d0", "page_alloc_failure", W, {"process": "java"},
     "mm/page_alloc.c warn_alloc_failed, 3.10"),
    ("kworker/u16:2: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)",
     "page_alloc_failure", W, {"process": "kworker/u16:2"}, "mm/page_alloc.c warn_alloc, 4.12+"),
    # -- machine checks, EDAC, APEI -------------------------------------------------------------
    ("{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0", "hardware_error", W, {},
     "drivers/acpi/apei/ghes.c __ghes_print_estatus, 3.10-mainline (corrected: KERN_WARNING)"),
    ("{1}[Hardware Error]: event severity: corrected", "hardware_error", W, {},
     "drivers/firmware/efi/cper.c cper_estatus_print, 3.10-mainline"),
    ("{2}[Hardware Error]: event severity: recoverable", "hardware_error_uncorrected", C, {},
     "drivers/firmware/efi/cper.c cper_estatus_print"),
    ("{3}[Hardware Error]: event severity: fatal", "hardware_error_uncorrected", C, {},
     "drivers/firmware/efi/cper.c cper_estatus_print"),
    ("[Hardware Error]: Corrected error, no action required.", "hardware_error", W, {},
     "drivers/edac/mce_amd.c decode_error_status, 4.18-mainline"),
    ("[Hardware Error]: Uncorrected, software restartable error.", "hardware_error_uncorrected", C, {},
     "drivers/edac/mce_amd.c decode_error_status"),
    ("[Hardware Error]: CPU 2: Machine Check Exception: 5 Bank 4: b200000000070f0f", "hardware_error_uncorrected", C, {},
     "arch/x86/kernel/cpu/mcheck/mce.c print_mce, 3.10 (no 'mce: ' prefix yet)"),
    # A corrected error (MCi_STATUS.UC, bit 61, clear; no MCIP so no " Exception"): a warning, not critical.
    ("mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 7: cc00008000010090", "machine_check", W, {},
     "arch/x86/kernel/cpu/mce/core.c __print_mce, 4.x-mainline"),
    ("mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 1: bd80000000100134", "machine_check", C, {},
     "arch/x86/kernel/cpu/mce/core.c __print_mce (MCG_STATUS.MCIP set), 4.x-mainline"),
    ("mce: [Hardware Error]: CPU 3: Machine Check: 0 Bank 5: be00000000800400", "machine_check", C, {},
     "arch/x86/kernel/cpu/mce/core.c __print_mce, uncorrected without an exception (UC set, MCIP clear)"),
    ("mce: [Hardware Error]: Machine check: Processor context corrupt", "machine_check", C, {},
     "arch/x86/kernel/cpu/mce/core.c mce_panic, the severity table's reason, 4.x-mainline"),
    ("mce: [Hardware Error]: Machine check events logged", "machine_check_logged", W, {},
     "arch/x86/kernel/cpu/mce/core.c mce_log / mce_notify_irq, 4.x-mainline"),
    ("{1}[Hardware Error]: It has been corrected by h/w and requires no further action", "hardware_error", W, {},
     "drivers/firmware/efi/cper.c cper_estatus_print (CPER_SEV_CORRECTED), 3.10-mainline"),
    ("[Hardware Error]: System Fatal error.", "hardware_error_uncorrected", C, {},
     "drivers/edac/mce_amd.c decode_error_status (PCC set)"),
    ("[Hardware Error]: Deferred error, no action required.", "hardware_error", W, {},
     "drivers/edac/mce_amd.c decode_error_status (deferred, not consumed)"),
    ("[Hardware Error]: CPU:2 (15:2:0) MC4_STATUS[Over|UE|MiscV|PCC|AddrV|-|-]: 0xfe00000000070f0f",
     "hardware_error_uncorrected", C, {}, "drivers/edac/mce_amd.c amd_decode_mce, family 15h"),
    ("Memory failure: 0x2f3b71: recovery action for dirty LRU page: Recovered", "memory_failure", C, {},
     "mm/memory-failure.c action_result, 4.18-5.15"),
    ("Memory failure: 0x2f3b71: already hardware poisoned", "memory_failure", C, {},
     "mm/memory-failure.c memory_failure, 4.18-mainline"),
    ("Memory failure: 0x2f3b71: Sending SIGBUS to java:4242 due to hardware memory corruption", "memory_failure", C, {},
     "mm/memory-failure.c kill_proc, 5.x-mainline"),
    ("MCE 0x2f3b71: Killing java:4242 due to hardware memory corruption", "memory_failure", C, {},
     "mm/memory-failure.c kill_proc, 3.10"),
    ("MCE 0x2f3b71: dirty LRU page recovery: Recovered", "memory_failure", C, {},
     "mm/memory-failure.c action_result, 3.10"),
    ("Memory failure: 0x2f3b71: Killing java:4242 due to hardware memory corruption", "memory_failure", C, {},
     "mm/memory-failure.c kill_proc, 4.x before 'Sending SIGBUS'"),
    ("MCE: Killing java:4242 due to hardware memory corruption fault at 7f3a1c2b4d10", "memory_failure", C,
     {"process": "java", "pid": "4242"}, "arch/x86/mm/fault.c do_sigbus (poison consumed by the task), 3.10-mainline"),
    ("EDAC sbridge MC0: HANDLING MCE MEMORY ERROR", "edac_mce", W, {"mc": "MC0"},
     "drivers/edac/sb_edac.c sbridge_mce_output_error, 3.10-mainline"),
    # Not "EDAC i7core MC1: HANDLING ...": i7core_edac.c prints no such line; sb_edac, skx and pnd2 do.
    ("EDAC skx MC1: HANDLING MCE MEMORY ERROR", "edac_mce", W, {"mc": "MC1"},
     "drivers/edac/skx_common.c skx_mce_check_error (skx_mc_printk, KERN_DEBUG), 4.14+"),
    ("EDAC i7core: New Corrected error(s): dimm0: +1, dimm1: +0, dimm2 +0", "edac_correctable", W, {},
     "drivers/edac/i7core_edac.c, unregistered DIMMs' own CE counters (i7core_printk), 3.10"),
    ("EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#2_DIMM#0 (channel:2 slot:0 page:0x8b3f4 offset:0x400 "
     "grain:32 syndrome:0x0)", "edac_correctable", W, {"mc": "MC0"}, "drivers/edac/edac_mc.c edac_raw_mc_handle_error, 4.18+"),
    ("EDAC MC1: 1 UE memory read error on CPU_SrcID#1_Ha#0_Chan#0_DIMM#1 (channel:0 slot:1 page:0x1a2b3 offset:0x0 "
     "grain:32)", "edac_uncorrectable", C, {"mc": "MC1"}, "drivers/edac/edac_mc.c, 3.10+"),
    ("EDAC MC0: CE page 0x1a2b3, offset 0x40, grain 64, syndrome 0x5, row 2, channel 1, label \"DIMM_B1\": i5000 CE",
     "edac_correctable", W, {"mc": "MC0"}, "drivers/edac/edac_mc.c edac_mc_handle_ce, 2.6.32"),
    ("Kernel panic - not syncing: Fatal machine check", "kernel_panic", E, {},
     "arch/x86/kernel/cpu/mce/core.c mce_panic, 4.18-mainline"),
    ("Kernel panic - not syncing: Fatal Machine check", "kernel_panic", E, {}, "arch/x86/kernel/cpu/mcheck/mce.c, 3.10"),
    ("Kernel panic - not syncing: Fatal machine check on current CPU", "kernel_panic", E, {},
     "arch/x86/kernel/cpu/mce do_machine_check mce_panic, 3.10-5.x"),
    ("NMI: PCI system error (SERR) for reason a1 on CPU 0.", "nmi_error", C, {},
     "arch/x86/kernel/nmi.c pci_serr_error, 3.x-mainline"),
    ("NMI: IOCK error (debug interrupt?) for reason 71 on CPU 0.", "nmi_error", C, {},
     "arch/x86/kernel/nmi.c io_check_error, 3.x-mainline"),
    ("Uhhuh. NMI received for unknown reason 3d on CPU 0.", "nmi_error", W, {},
     "arch/x86/kernel/nmi.c unknown_nmi_error, 3.x-mainline (pr_emerg: critical where the level is known)"),
    ("Kernel panic - not syncing: Fatal hardware error!", "kernel_panic", E, {}, "drivers/acpi/apei/ghes.c __ghes_panic"),
    # -- NVIDIA ------------------------------------------------------------------------------------
    ("NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python3, GPU has fallen off the bus.", "gpu_xid", E,
     {"pci": "PCI:0000:3b:00", "xid": "79"}, "open-gpu-kernel-modules nvErrorLog, 515+"),
    ("NVRM: Xid (0000:03:00): 79, GPU has fallen off the bus.", "gpu_xid", E, {"pci": "0000:03:00", "xid": "79"},
     "NVIDIA kernel module before 390: bus id without 'PCI:'"),
    ("NVRM: Xid (0000:03:00): 13, 0001 00000000 0000a097 00001b0c 00000000 00000000", "gpu_xid", W,
     {"pci": "0000:03:00", "xid": "13"}, "NVIDIA kernel module before 390"),
    ("NVRM: Xid (PCI:0000:17:00): 119, pid=1200, name=nvidia-smi, Timeout after 6s of waiting for RPC response from "
     "GPU0 GSP! Expected function 76 (GSP_RM_CONTROL) (0x20800a4c 0x4).", "gpu_xid", C, {"xid": "119"},
     "open-gpu-kernel-modules kernel_gsp.c _kgspLogXid119 (GSP_RPC_TIMEOUT_XID_MESSAGE_FMT)"),
    ("NVRM: Xid (PCI:0000:17:00): 74, pid=3301, name=train, NVLink: fatal error detected on link 3(0x0, 0x0, 0x10000, "
     "0x0, 0x0, 0x0, 0x0)", "gpu_xid", C, {"xid": "74"}, "open-gpu-kernel-modules knvlink, 525+"),
    ("NVRM: Xid (PCI:0000:17:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)",
     "gpu_xid", C, {"xid": "154"}, "open-gpu-kernel-modules, 550+ (recovery action)"),
    ("NVRM: Xid (PCI:0000:17:00): 109, pid=3301, name=train, Ch 00000010, errorString CTX SWITCH TIMEOUT, Info 0x1c084",
     "gpu_xid", W, {"xid": "109"}, "open-gpu-kernel-modules"),
    ("NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.", "gpu_fallen_off_bus", E, {"pci": "0000:3b:00.0"},
     "open-gpu-kernel-modules osHandleGpuLost, NV_DEV_PRINTF"),
    ("NVRM: fallen off the bus and is not responding to commands.", "gpu_fallen_off_bus", E, {},
     "open-gpu-kernel-modules RM unix layer (BOOT_0 reads 0xffffffff): the third line of one nv_printf"),
    # The same nv_printf as journald keeps it: one record, three lines.
    ("NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: (PCI ID: 10de:26b5) installed in this system has\n"
     "NVRM: fallen off the bus and is not responding to commands.", "gpu_fallen_off_bus", E, {},
     "open-gpu-kernel-modules RM unix layer, the whole record"),
    ("NVRM: Xid (PCI:0000:17:00 GPU-I:02 GPU-CI:01): 94, pid=3301, name=train, Contained ECC error.", "gpu_xid", C,
     {"pci": "PCI:0000:17:00", "xid": "94"}, "open-gpu-kernel-modules kernel_rc.c krcReportXid, MIG attribution"),
    ("NVRM: Xid (PCI:0000:17:00): 45, pid=3301, name=train, Ch 00000010 caused by previous Xid 79", "gpu_xid", INFO,
     {"xid": "45"}, "open-gpu-kernel-modules kernel_rc.c krcReportXid, preemptive removal with its root cause"),
    ("NVRM: Xid (PCI:0000:17:00): 119, pid=1200, name=nvidia-smi, Timeout after 6s of waiting for RPC response from "
     "GPU0 GSP! Expected function 76 (GSP_RM_CONTROL) sequence 4242 (0x20800a4c 0x4).", "gpu_xid", C, {"xid": "119"},
     "open-gpu-kernel-modules gsp_events.c GSP_RPC_TIMEOUT_XID_MESSAGE_FMT (with the sequence), newest"),
    ("NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 (OS Reboot)", "gpu_xid", C,
     {"xid": "154"}, "open-gpu-kernel-modules, 550+ (the action names a reboot without saying 'Required')"),
    ("NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)",
     "gpu_xid", INFO, {"xid": "154"}, "same format: the GPU needs nothing any more"),
    ("NVRM: nvGpuOpsReportFatalError: uvm encountered global fatal error 0x60, requiring os reboot to recover.",
     "gpu_uvm_fatal", C, {}, "open-gpu-kernel-modules src/nvidia/src/kernel/rmapi/nv_gpu_ops.c nvGpuOpsReportFatalError"),
    ("NVRM: rm_init_adapter failed, device minor number 0", "gpu_init_failed", C, {},
     "open-gpu-kernel-modules kernel-open nv.c, nv_printf before NV_DEV_PRINTF"),
    ("NVRM: _kgspLogRpcSanityCheckFailure: GPU0 sanity check failed 0x62 waiting for RPC response from GSP. Expected "
     "function 76 (GSP_RM_CONTROL) (0x20800a4c 0x4).", "gpu_gsp_timeout", C, {},
     "open-gpu-kernel-modules kernel_gsp.c _kgspLogRpcSanityCheckFailure"),
    ("NVRM: The NVIDIA probe routine failed for 1 device(s).", "gpu_init_failed", C, {},
     "open-gpu-kernel-modules kernel-open/nvidia/nv.c nvidia_init_module"),
    ("NVRM: RmInitAdapter failed! (0x26:0xffff:1290)", "gpu_init_failed", C, {}, "NVIDIA kernel module, 470 and older"),
    ("NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x62:0x65:2029)", "gpu_init_failed", C, {"pci": "0000:01:00.0"},
     "open-gpu-kernel-modules osinit.c RmInitAdapter, NV_DEV_PRINTF"),
    ("NVRM: GPU 0000:01:00.0: rm_init_adapter failed, device minor number 0", "gpu_init_failed", C,
     {"pci": "0000:01:00.0"}, "open-gpu-kernel-modules kernel-open/nvidia/nv.c nv_start_device"),
    ("NVRM: rm_init_adapter(0) failed", "gpu_init_failed", C, {}, "NVIDIA kernel module 2xx/3xx nv.c"),
    ("NVRM: _kgspIsHeartbeatTimedOut: Heartbeat timed out, curr 0x1f2e, last 0x1f2e, timeout 5200 ms", "gpu_gsp_timeout",
     C, {}, "open-gpu-kernel-modules kernel_gsp.c _kgspIsHeartbeatTimedOut"),
    ("NVRM: _kgspLogXid119: ********************************* GSP Timeout **********************************",
     "gpu_gsp_timeout", C, {}, "open-gpu-kernel-modules kernel_gsp.c _kgspLogXid119"),
    # -- file systems and block --------------------------------------------------------------------
    ("JBD2: Invalid checksum recovering block 1183 in log", "fs_journal_error", C, {}, "fs/jbd2/recovery.c, 3.10"),
    ("JBD2: Invalid checksum recovering data block 1183 in log", "fs_journal_error", C, {},
     "fs/jbd2/recovery.c do_one_pass, 4.18-5.15"),
    ("JBD2: Invalid checksum recovering data block 1183 in journal block 1190", "fs_journal_error", C, {},
     "fs/jbd2/recovery.c jbd2_do_replay, 6.x"),
    ("JBD2: journal transaction 4711 on sda1-8 is corrupt.", "fs_journal_error", C, {"device": "sda1-8"},
     "fs/jbd2/journal.c (jbd2_journal_load), 6.x"),
    ("JBD2: journal recovery failed", "fs_journal_error", C, {}, "fs/jbd2/journal.c jbd2_journal_load, 6.x"),
    ("JBD2: Detected IO errors while flushing file data on dm-0-8", "fs_journal_error", C, {},
     "fs/jbd2/commit.c jbd2_journal_commit_transaction, 3.x-6.x"),
    ("JBD2: Detected IO errors -5 while flushing file data on dm-0-8", "fs_journal_error", C, {},
     "fs/jbd2/commit.c jbd2_journal_commit_transaction, newest"),
    ("JBD2: Error -5 detected when updating journal superblock for sdb1-8.", "fs_journal_error", C, {},
     "fs/jbd2/journal.c jbd2_write_superblock, 3.x-6.x"),
    ("JBD2: I/O error when updating journal superblock for sdb1-8.", "fs_journal_error", C, {},
     "fs/jbd2/journal.c jbd2_write_superblock, newest"),
    ("Aborting journal on device dm-3-8.", "fs_journal_error", C, {"device": "dm-3-8"},
     "fs/jbd2/journal.c __journal_abort_soft / jbd2_journal_abort, 3.10-mainline"),
    ("XFS (dm-2): Metadata corruption detected at xfs_inode_buf_verify+0x14d/0x160 [xfs], xfs_inode block 0x1f40 "
     "xfs_inode_buf_verify", "fs_corruption", C, {"device": "dm-2"}, "fs/xfs/xfs_error.c xfs_buf_verifier_error, 4.19+"),
    ("XFS (dm-2): Metadata corruption detected at xfs_dinode_verify+0xa5/0x5c0 [xfs], inode 0x4a9f dinode",
     "fs_corruption", C, {"device": "dm-2"}, "fs/xfs/xfs_error.c xfs_inode_verifier_error, 4.17+"),
    ("XFS (sdb1): Metadata corruption detected at xfs_agf_read_verify+0x6a/0x110 [xfs], block 0x1", "fs_corruption", C,
     {"device": "sdb1"}, "fs/xfs/xfs_error.c xfs_verifier_error before it named the buffer type, 3.15-4.x"),
    ("XFS (sdb1): Metadata CRC error detected at xfs_agi_read_verify+0x9a/0xe0 [xfs], xfs_agi block 0x2", "fs_corruption",
     C, {"device": "sdb1"}, "fs/xfs/xfs_error.c xfs_verifier_error, 4.x (4.18)"),
    ("XFS (dm-2): Corruption detected. Unmount and run xfs_repair", "fs_corruption", C, {"device": "dm-2"},
     "fs/xfs/xfs_error.c xfs_corruption_error, 3.x-5.x"),
    ("XFS (dm-0): metadata I/O error in \"xfs_trans_read_buf_map\" at daddr 0x7a1200 len 8 error 5", "fs_corruption", C,
     {"device": "dm-0"}, "fs/xfs/xfs_buf.c xfs_buf_ioerror_alert with the caller's name (\"%s\"), 5.x before %pS"),
    ("XFS (dm-0): metadata I/O error in \"xfs_trans_read_buf_map+0x1d6/0x390 [xfs]\" at daddr 0x7a1200 len 8 error 5",
     "fs_corruption", C, {"device": "dm-0"}, "fs/xfs/xfs_buf.c xfs_buf_ioerror_alert (\"%pS\"), 5.7+"),
    ("XFS (dm-0): metadata I/O error: block 0x7a1200 (\"xfs_trans_read_buf_map\") error 5 numblks 8", "fs_corruption", C,
     {"device": "dm-0"}, "fs/xfs/xfs_buf.c xfs_buf_ioerror_alert, 3.10/4.18"),
    ("XFS (dm-0): Log I/O Error Detected.  Shutting down filesystem", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 3.x-5.x (two spaces after the full stop)"),
    ("XFS (dm-0): Log I/O Error Detected. Shutting down filesystem", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 5.x (one space)"),
    ("XFS (dm-0): All device paths lost. Shutting down filesystem", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 4.x-5.x"),
    ("XFS (dm-0): I/O Error Detected. Shutting down filesystem", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 3.x-5.x"),
    ("XFS (dm-0): Corruption of in-memory data detected.  Shutting down filesystem", "fs_corruption", C,
     {"device": "dm-0"}, "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 3.x-5.x"),
    ("XFS (dm-0): I/O error (0x1) detected at xfs_trans_read_buf_map+0x1d6/0x390 [xfs] (fs/xfs/xfs_trans_buf.c:296). "
     "Shutting down filesystem", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 5.x before the shared \"why\" message"),
    ("XFS (dm-0): Log I/O Error (0x2) detected at xlog_ioend_work+0x6e/0x70 [xfs] (fs/xfs/xfs_log.c:1376).  Shutting "
     "down filesystem.", "fs_corruption", C, {"device": "dm-0"}, "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 5.17+"),
    ("XFS (sdb1): Corruption of on-disk metadata (0x8) detected at xfs_trans_cancel+0x11e/0x140 [xfs] "
     "(fs/xfs/xfs_trans.c:1098).  Shutting down filesystem.", "fs_corruption", C, {"device": "sdb1"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 5.17+"),
    ("XFS (dm-0): Please umount the filesystem and rectify the problem(s)", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 3.x-5.x"),
    ("XFS (dm-0): Please unmount the filesystem and rectify the problem(s)", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/xfs_fsops.c xfs_do_force_shutdown, 5.x+"),
    ("BTRFS: error (device sda2) in __btrfs_free_extent:3072: errno=-2 No such entry", "fs_error", C, {"device": "sda2"},
     "fs/btrfs/super.c __btrfs_handle_fs_error, 4.18-5.14"),
    ("BTRFS: error (device sda2: state A) in btrfs_run_delayed_refs:2150: errno=-28 No space left", "fs_error", C,
     {"device": "sda2"}, "fs/btrfs/super.c, messages.c __btrfs_handle_fs_error, 5.15-6.x (\": state \")"),
    ("BTRFS: error (device nvme0n1p3 state EA) in btrfs_run_delayed_refs:2150: errno=-28 No space left", "fs_error", C,
     {"device": "nvme0n1p3"}, "fs/btrfs/messages.c __btrfs_handle_fs_error, newest (\" state \")"),
    ("BTRFS error (device sda2) in btrfs_commit_transaction:1808: errno=-5 IO failure", "fs_error", C,
     {"device": "sda2"}, "fs/btrfs/super.c __btrfs_std_error, 3.10"),
    ("BTRFS critical (device sdc1): corrupt leaf: root=2 block=30867456 slot=12, invalid key objectid", "fs_error", C,
     {"device": "sdc1"}, "fs/btrfs/tree-checker.c generic_err, 4.x+"),
    ("BTRFS warning (device sdc1): csum failed root 5 ino 2571 off 65536 csum 0x8941f998 expected csum 0x3bd6a2f5 mirror 1",
     "fs_error", C, {"device": "sdc1"}, "fs/btrfs/inode.c btrfs_print_data_csum_error, 5.x"),
    ("BTRFS warning (device sda2): sda2 checksum verify failed on 30408704 wanted C2CC51CB found CCF180A7 level 0",
     "fs_error", C, {"device": "sda2"}, "fs/btrfs/disk-io.c csum_tree_block, 4.x-5.x"),
    ("BTRFS warning (device sda2): checksum verify failed on logical 5312512 mirror 1 wanted 0xb0433826 found 0x810ceb2b "
     "level 0", "fs_error", C, {"device": "sda2"}, "fs/btrfs/disk-io.c btrfs_validate_extent_buffer, 6.x"),
    ("BTRFS info (device sda2): forced readonly", "fs_readonly", C, {"device": "sda2"},
     "fs/btrfs/super.c __btrfs_handle_fs_error, 4.18-6.x"),
    ("BTRFS warning (device sda2): Skipping commit of aborted transaction.", "fs_transaction_aborted", C,
     {"device": "sda2"}, "fs/btrfs/transaction.c cleanup_transaction, 4.18+"),
    ("BTRFS warning (device sdc1: state EA): Skipping commit of aborted transaction.", "fs_transaction_aborted", C,
     {"device": "sdc1"}, "fs/btrfs/transaction.c, 5.15-6.x (\": state \" in btrfs_printk)"),
    ("XFS (sdb1): Unmount and run xfs_repair", "fs_corruption", C, {"device": "sdb1"}, "fs/xfs/xfs_error.c, 3.10+"),
    ("XFS (sdb1): First 64 bytes of corrupted metadata buffer:", "fs_corruption", C, {"device": "sdb1"},
     "fs/xfs/xfs_error.c xfs_verifier_error, 4.x"),
    ("XFS (sdb1): First 128 bytes of corrupted metadata buffer:", "fs_corruption", C, {"device": "sdb1"},
     "fs/xfs/xfs_error.c xfs_verifier_error, 4.18+"),
    ("BTRFS: Transaction aborted (error -28)", "fs_transaction_aborted", C, {}, "fs/btrfs/ctree.h btrfs_abort_transaction, 4.18-5.15"),
    ("btrfs: Transaction aborted (error -28)", "fs_transaction_aborted", C, {},
     "fs/btrfs/super.c __btrfs_abort_transaction, 3.x (lowercase prefix)"),
    ("print_req_error: critical medium error, dev sda, sector 13678456", "block_io_error", C, {"device": "sda"},
     "block/blk-core.c print_req_error, 4.18"),
    ("end_request: I/O error, dev sdc, sector 730081839", "block_io_error", C, {"device": "sdc"},
     "block/blk-core.c blk_update_request, 3.x (end_request's four kinds)"),
    ("end_request: critical target error, dev sdb, sector 2048", "block_io_error", C, {"device": "sdb"},
     "block/blk-core.c blk_update_request, 3.x"),
    ("end_request: recoverable transport error, dev sdc, sector 2048", "block_io_error", W, {"device": "sdc"},
     "block/blk-core.c blk_update_request, 3.x (-ENOLINK: a path to fail over)"),
    ("Buffer I/O error on dev sdb1, logical block 10917840, lost async page write", "buffer_io_error", C,
     {"device": "sdb1"}, "fs/buffer.c buffer_io_error, 4.x+"),
    # Not "end_request: critical medium ...": the kernels that name the kind "critical medium"
    # print the caller with __func__ (blk_update_request); end_request's era knew only four kinds.
    ("blk_update_request: critical medium error, dev sdb, sector 11842", "block_io_error", C, {"device": "sdb"},
     "block/blk-core.c blk_update_request, 3.18-4.12 (RHEL 7's 3.10 backport)"),
    ("blk_update_request: critical target error, dev sdc, sector 1024 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0",
     "block_io_error", C, {"device": "sdc"}, "block/blk-core.c print_req_error, 5.4-5.15"),
    ("critical medium error, dev nvme0n1, sector 3467712 op 0x0:(READ) flags 0x80700 phys_seg 4 prio class 2",
     "block_io_error", C, {"device": "nvme0n1"}, "block/blk-mq.c blk_print_req_error, 6.x"),
    ("I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2", "block_io_error", C,
     {"device": "sdb"}, "block/blk-mq.c blk_print_req_error, 6.x"),
    ("nvme0n1: Read(0x2) @ LBA 3467712, 64 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR", "nvme_io_error", C,
     {"device": "nvme0n1"}, "drivers/nvme/host/core.c nvme_log_error, 5.19+ with CONFIG_NVME_VERBOSE_ERRORS"),
    ("nvme1n1: I/O Cmd(0x1) @ LBA 1024, 8 blocks, I/O Error (sct 0x3 / sc 0x71) MORE", "nvme_io_error", C,
     {"device": "nvme1n1"}, "drivers/nvme/host/core.c nvme_log_error, 5.19+ without CONFIG_NVME_VERBOSE_ERRORS"),
    ("sd 2:0:0:0: [sdb] tag#21 Sense Key : Medium Error [current]", "scsi_medium_error", C, {"device": "sdb"},
     "drivers/scsi/scsi_logging.c scsi_print_sense_hdr, 4.18+"),
    ("sd 0:0:0:0: [sda] tag#0 Sense Key : Hardware Error [current]", "scsi_medium_error", C, {"device": "sda"},
     "drivers/scsi/scsi_logging.c scsi_print_sense_hdr, 4.18+"),
    ("sd 2:0:0:0: [sdb] Sense Key : Medium Error [current] [descriptor]", "scsi_medium_error", C, {"device": "sdb"},
     "drivers/scsi/constants.c scsi_show_sense_hdr (sdev_prefix_printk), 3.19-4.0"),
    ("sd 2:0:0:0: [sdb]  Sense Key : Medium Error [current] [descriptor]", "scsi_medium_error", C, {"device": "sdb"},
     "drivers/scsi/sd.c sd_print_sense_hdr + constants.c scsi_show_sense_hdr, 3.10 (two spaces)"),
    ("XFS (sda1): xfs_log_force: error -5 returned.", "fs_corruption", C, {"device": "sda1"}, "fs/xfs/xfs_log.c, 3.10"),
    ("XFS (dm-0): xfs_imap_to_bp: xfs_trans_read_buf() returned error -117.", "fs_corruption", C, {"device": "dm-0"},
     "fs/xfs/libxfs/xfs_inode_buf.c xfs_imap_to_bp, 4.18"),
    ("ata3.00: error: { UNC }", "ata_error", C, {"device": "ata3.00"}, "drivers/ata/libata-eh.c ata_eh_link_report, 3.10-mainline"),
    ("ata3.00: exception Emask 0x0 SAct 0x40000 SErr 0x0 action 0x0", "ata_exception", W, {"device": "ata3.00"},
     "drivers/ata/libata-eh.c ata_eh_link_report, 3.10-mainline"),
    ("ata1.00: error: { ICRC ABRT }", "ata_error", W, {"device": "ata1.00"}, "drivers/ata/libata-eh.c ata_eh_link_report"),
    ("EXT4-fs (sda1): This should not happen!! Data will be lost", "fs_data_loss", C, {"device": "sda1"},
     "fs/ext4/inode.c mpage_da_map_and_submit (3.10) / ext4_writepages (4.18+)"),
    ("EXT4-fs (sda1): Delayed block allocation failed for inode 131090 at logical offset 2048 with max blocks 16 with "
     "error 5", "fs_data_loss", C, {"device": "sda1"}, "fs/ext4/inode.c mpage_map_and_submit_extent, 4.18+"),
    ("EXT4-fs warning (device sdb1): ext4_end_bio:287: I/O error writing to inode 2883604 (offset 0 size 4096 starting "
     "block 11534356)", "fs_data_loss", C, {"device": "sdb1"}, "fs/ext4/page-io.c ext4_end_bio, 3.x (no error number)"),
    ("EXT4-fs warning (device sdb1): ext4_end_bio:317: I/O error -5 writing to inode 2883604 (offset 0 size 4096 "
     "starting block 11534356)", "fs_data_loss", C, {"device": "sdb1"}, "fs/ext4/page-io.c ext4_end_bio, 4.1-4.12 (errno)"),
    ("EXT4-fs warning (device sdb1): ext4_end_bio:323: I/O error 10 writing to inode 2883604 (offset 0 size 4096 "
     "starting block 11534356)", "fs_data_loss", C, {"device": "sdb1"},
     "fs/ext4/page-io.c ext4_end_bio, 4.13-5.4 (blk_status_t: 10 is BLK_STS_IOERR)"),
    ("EXT4-fs warning (device sdb1): ext4_end_bio:343: I/O error 10 writing to inode 2883604 starting block 11534356)",
     "fs_data_loss", C, {"device": "sdb1"}, "fs/ext4/page-io.c ext4_end_bio, 5.5+ (the stray parenthesis is the kernel's)"),
    ("EXT4-fs error (device dm-1): ext4_journal_check_start:83: comm rsync: Detected aborted journal", "fs_error", C,
     {"device": "dm-1"}, "fs/ext4/super.c __ext4_error via ext4_abort, 5.10+"),
    ("EXT4-fs error (device dm-1): ext4_journal_check_start:61: Detected aborted journal", "fs_error", C,
     {"device": "dm-1"}, "fs/ext4/super.c __ext4_abort, 4.x (4.18)"),
    ("EXT4-fs (dm-0): failed to convert unwritten extents to written extents -- potential data loss!  (inode 13, error -30)",
     "fs_data_loss", C, {"device": "dm-0"}, "fs/ext4/page-io.c ext4_end_io_end, 4.x+"),
    ("ata3.00: disabled", "ata_disabled", C, {"device": "ata3.00"}, "drivers/ata/libata-eh.c ata_dev_disable, 3.10-5.x"),
    ("ata3.00: disable device", "ata_disabled", C, {"device": "ata3.00"}, "drivers/ata/libata-eh.c ata_dev_disable, 6.x"),
    ("md/raid1:md0: Disk failure on sdb1, disabling device.", "md_disk_failure", C, {"device": "sdb1"},
     "drivers/md/raid1.c raid1_error (KERN_ALERT 3.10, pr_crit 4.x+)"),
    ("md/raid:md127: Disk failure on sdc, disabling device.", "md_disk_failure", C, {"device": "sdc"},
     "drivers/md/raid5.c raid5_error, 3.10+"),
    ("md/raid10:md2: Disk failure on nvme1n1p2, disabling device.", "md_disk_failure", C, {"device": "nvme1n1p2"},
     "drivers/md/raid10.c raid10_error, 3.10+"),
    ("device-mapper: multipath: Failing path 8:32.", "dm_path_failed", W, {"device": "8:32"},
     "drivers/md/dm-mpath.c fail_path, 3.10-5.x"),
    ("device-mapper: multipath: 253:3: Failing path 8:32.", "dm_path_failed", W, {"device": "8:32"},
     "drivers/md/dm-mpath.c fail_path (with the table's device), 5.x+"),
    ("EXT4-fs (dm-1): Remounting filesystem read-only", "fs_readonly", C, {"device": "dm-1"},
     "fs/ext4/super.c __ext4_abort / ext4_handle_error (ext4_msg KERN_CRIT)"),
    # -- NVMe --------------------------------------------------------------------------------------
    ("nvme nvme0: I/O 731 QID 3 timeout, aborting", "nvme_timeout", C, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_timeout, 4.18-6.5"),
    ("nvme nvme0: I/O 12 QID 0 timeout, reset controller", "nvme_timeout", C, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_timeout, 4.18-6.5"),
    ("nvme nvme0: I/O 24 QID 0 timeout, disable controller", "nvme_timeout", C, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_timeout (while connecting or deleting), 4.18-6.5"),
    ("nvme nvme0: I/O 731 QID 3 timeout, completion polled", "nvme_timeout", W, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_timeout (a missed interrupt), 4.18-6.5"),
    ("nvme nvme1: I/O tag 731 (02db) opcode 0x2 (Read) QID 3 timeout, aborting req_op:READ(0) size:131072",
     "nvme_timeout", C, {"device": "nvme1"}, "drivers/nvme/host/pci.c nvme_timeout, 6.6+"),
    ("nvme nvme1: I/O tag 12 (000c) opcode 0x6 (Admin Cmd) QID 0 timeout, reset controller", "nvme_timeout", C,
     {"device": "nvme1"}, "drivers/nvme/host/pci.c nvme_timeout, 6.6+"),
    ("nvme 0000:01:00.0: Aborting I/O 731 QID 3", "nvme_timeout", C, {"pci": "0000:01:00.0"},
     "drivers/block/nvme-core.c nvme_abort_cmd / nvme_abort_req, 3.1x-4.2 (RHEL 7's early 3.10 backports)"),
    ("nvme 0000:01:00.0: Timeout I/O 731 QID 3", "nvme_timeout", C, {"pci": "0000:01:00.0"},
     "drivers/block/nvme-core.c nvme_timeout (blk-mq), 3.19-4.2"),
    ("nvme 0000:01:00.0: Cancelling I/O 731 QID 3", "nvme_abort", W, {"pci": "0000:01:00.0"},
     "drivers/block/nvme-core.c nvme_cancel_ios / nvme_cancel_queue_ios, 3.1x-4.2"),
    ("nvme 0000:01:00.0: I/O 12 QID 0 timeout, reset controller", "nvme_timeout", C, {"pci": "0000:01:00.0"},
     "drivers/block/nvme-core.c nvme_timeout on the PCI device, 4.0-4.2"),
    ("nvme 0000:01:00.0: Device not ready; aborting reset", "nvme_reset_failed", C, {"pci": "0000:01:00.0"},
     "drivers/nvme/host/pci.c nvme_wait_ready on the PCI device, 4.4-4.5"),
    ("nvme nvme1: frozen state error detected, reset controller", "nvme_reset", C, {"device": "nvme1"},
     "drivers/nvme/host/pci.c nvme_error_detected, 4.18+"),
    ("nvme nvme0: resetting controller due to AER", "nvme_reset", C, {"device": "nvme0"},
     "drivers/nvme/host/core.c nvme_handle_aer_persistent_error, 6.x"),
    ("nvme nvme0: Abort status: 0x371", "nvme_abort", W, {"device": "nvme0"}, "drivers/nvme/host/pci.c abort_endio"),
    ("nvme nvme0: Device not ready; aborting reset", "nvme_reset_failed", C, {"device": "nvme0"},
     "drivers/nvme/host/core.c nvme_wait_ready, 4.x-5.x"),
    ("nvme nvme0: Device not ready; aborting reset, CSTS=0x1", "nvme_reset_failed", C, {"device": "nvme0"},
     "drivers/nvme/host/core.c nvme_wait_ready, 5.x+"),
    ("nvme nvme2: Device not ready; aborting initialisation, CSTS=0x0", "nvme_reset_failed", C, {"device": "nvme2"},
     "drivers/nvme/host/core.c nvme_wait_ready, 5.x+"),
    ("nvme nvme0: Removing after probe failure status: -19", "nvme_reset_failed", C, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_remove_dead_ctrl, 4.18+"),
    ("nvme nvme0: Disabling device after reset failure: -19", "nvme_reset_failed", C, {"device": "nvme0"},
     "drivers/nvme/host/pci.c nvme_reset_work, 6.x"),
    ("nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10", "nvme_reset", C,
     {"device": "nvme0"}, "drivers/nvme/host/pci.c nvme_warn_reset"),
    ("nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS read failed (134)", "nvme_reset", C,
     {"device": "nvme0"}, "drivers/nvme/host/pci.c nvme_warn_reset"),
    ("nvme0n1: detected capacity change from 1000204886016 to 0", "disk_gone", C, {"device": "nvme0n1"},
     "block/genhd.c set_capacity_and_notify, 5.11+ (fs/block_dev.c check_disk_size_change before)"),
    # -- hangs and lockups ---------------------------------------------------------------------------
    ("INFO: rcu_sched_state detected stall on CPU 3 (t=15000 jiffies)", "rcu_stall", C, {},
     "kernel/rcutree.c print_cpu_stall, 2.6.3x"),
    ("INFO: rcu_sched detected stalls on CPUs/tasks: { 3} (detected by 1, t=60002 jiffies, g=11375, c=11374, q=224)",
     "rcu_stall", C, {}, "kernel/rcutree.c print_other_cpu_stall, 3.10"),
    ("INFO: rcu_sched self-detected stall on CPU { 5}  (t=60000 jiffies g=11375 c=11374 q=230)", "rcu_stall", C, {},
     "kernel/rcutree.c print_cpu_stall, 3.10"),
    ("rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 7-... } 21004 jiffies s: 953 root: 0x80/.",
     "rcu_stall", C, {}, "kernel/rcu/tree_exp.h synchronize_rcu_expedited_wait, 5.4+"),
    ("INFO: rcu_sched detected expedited stalls on CPUs/tasks: { 2-... } 21002 jiffies s: 417 root: 0x4/.", "rcu_stall",
     C, {}, "kernel/rcu/tree_exp.h synchronize_sched_expedited_wait, 4.x before the rcu: prefix"),
    ("INFO: rcu_sched self-detected stall on CPU", "rcu_stall", C, {},
     "kernel/rcutree.c print_cpu_stall, 3.10 with CONFIG_RCU_CPU_STALL_INFO=y (the CPU list on lines of its own)"),
    ("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "rcu_stall", C, {},
     "kernel/rcu/tree_stall.h print_other_cpu_stall (pr_fmt \"rcu: \"), 5.x-mainline"),
    ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu_stall", C, {},
     "kernel/rcu/tree_stall.h print_cpu_stall (pr_fmt \"rcu: \"), 5.x-mainline"),
    ("BUG: soft lockup - CPU#3 stuck for 23s! [java:4242]", "soft_lockup", C, {"cpu": "3"},
     "kernel/watchdog.c watchdog_timer_fn, 3.10 (no pr_fmt)"),
    ("watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [java:4242]", "soft_lockup", C, {"cpu": "3"},
     "kernel/watchdog.c watchdog_timer_fn (pr_fmt \"watchdog: \"), 4.14-mainline"),
    ("NMI watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [systemd-udevd:220]", "soft_lockup", C, {"cpu": "1"},
     "kernel/watchdog.c (pr_fmt \"NMI watchdog: \" before the 4.14 split), 4.x and RHEL 7.3+"),
    ("BUG: workqueue lockup - pool cpus=4 node=0 flags=0x0 nice=0 stuck for 30s!", "workqueue_lockup", W, {},
     "kernel/workqueue.c wq_watchdog_timer_fn, 4.5+ (pr_emerg: critical where the level is known)"),
    ("INFO: task java:4242 blocked for more than 120 seconds.", "hung_task", W, {"process": "java", "pid": "4242"},
     "kernel/hung_task.c check_hung_task, 3.10-mainline (printed at err: a warning)"),
    ("Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 6", "kernel_panic", E, {},
     "kernel/watchdog.c watchdog_overflow_callback with nmi_watchdog=panic, 3.x"),
    ("watchdog: CPU4: Watchdog detected hard LOCKUP on cpu 5", "hard_lockup", C, {"cpu": "5"},
     "kernel/watchdog.c watchdog_hardlockup_check (the detecting CPU, then the stuck one), 6.x mainline"),
    ("NMI watchdog: Watchdog detected hard LOCKUP on cpu 6", "hard_lockup", C, {"cpu": "6"},
     "kernel/watchdog_hld.c (pr_fmt \"NMI watchdog: \"), 4.13-6.4"),
    ("Watchdog detected hard LOCKUP on cpu 6", "hard_lockup", C, {"cpu": "6"},
     "kernel/watchdog.c WARN, 3.x (after the 'WARNING: at kernel/watchdog.c' line)"),
    ("Watchdog CPU:6 Hard LOCKUP", "hard_lockup", C, {"cpu": "6"}, "arch/powerpc/kernel/watchdog.c wd_lockup_ipi, 4.13+"),
    ("Kernel panic - not syncing: Hard LOCKUP", "kernel_panic", E, {}, "kernel/watchdog_hld.c nmi_panic, 4.18+"),
    ("Kernel panic - not syncing: softlockup: hung tasks", "kernel_panic", E, {}, "kernel/watchdog.c watchdog_timer_fn"),
    ("Kernel panic - not syncing: hung_task: blocked tasks", "kernel_panic", E, {}, "kernel/hung_task.c check_hung_task"),
    ("Kernel panic - not syncing: Out of memory and no killable processes...", "kernel_panic", E, {},
     "mm/oom_kill.c out_of_memory"),
    ("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", "kernel_panic", E, {},
     "kernel/exit.c do_exit"),
    # -- links ---------------------------------------------------------------------------------------
    ("bond0: link status definitely down for interface eth1, disabling it", "bond_link_down", W,
     {"interface": "eth1"}, "drivers/net/bonding/bond_main.c bond_miimon_commit, 3.10-5.3"),
    ("bond0: (slave ens1f1): link status definitely down, disabling slave", "bond_link_down", W,
     {"interface": "ens1f1"}, "drivers/net/bonding/bond_main.c bond_miimon_commit (slave_info), 5.4+"),
    ("bond1: now running without any active interface!", "bond_no_active", C, {"interface": "bond1"},
     "drivers/net/bonding/bond_main.c bond_select_active_slave, 3.10+"),
    ("e1000e: eth0 NIC Link is Down", "link_down", W, {"interface": "eth0"},
     "drivers/net/ethernet/intel/e1000e/netdev.c (pr_info with the module's pr_fmt), 3.10-5.x"),
    ("e1000e 0000:00:1f.6 eno1: NIC Link is Down", "link_down", W, {"interface": "eno1"},
     "drivers/net/ethernet/intel/e1000e/netdev.c (netdev_info), newer"),
    ("igb 0000:01:00.0 eno1: igb: eno1 NIC Link is Down", "link_down", W, {"interface": "eno1"},
     "drivers/net/ethernet/intel/igb/igb_main.c igb_watchdog_task (netdev_info)"),
    ("igb: eth2 NIC Link is Down", "link_down", W, {"interface": "eth2"},
     "drivers/net/ethernet/intel/igb/igb_main.c igb_watchdog_task (printk), older"),
    ("ixgbe 0000:03:00.0 eth2: NIC Link is Down", "link_down", W, {"interface": "eth2"},
     "drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_watchdog_link_is_down"),
    ("i40e 0000:3b:00.0 eno1: NIC Link is Down", "link_down", W, {"interface": "eno1"},
     "drivers/net/ethernet/intel/i40e/i40e_main.c i40e_print_link_message"),
    ("mlx5_core 0000:5e:00.0 ens1f0np0: Link down", "link_down", W, {"interface": "ens1f0np0"},
     "drivers/net/ethernet/mellanox/mlx5/core/en_main.c mlx5e_update_carrier"),
    ("bnxt_en 0000:3b:00.0 eno1np0: NIC Link is Down", "link_down", W, {"interface": "eno1np0"},
     "drivers/net/ethernet/broadcom/bnxt/bnxt.c bnxt_report_link (netdev_err)"),
    ("r8169 0000:02:00.0 enp2s0: Link is Down", "link_down", W, {"interface": "enp2s0"},
     "drivers/net/phy/phy.c phy_print_status (r8169 on phylib, 5.x+)"),
    ("r8169 0000:02:00.0 eth0: link down", "link_down", W, {"interface": "eth0"},
     "drivers/net/ethernet/realtek/r8169.c __rtl8169_check_link_status, 3.10-4.x"),
    ("tg3 0000:02:00.0 eth0: Link is down", "link_down", W, {"interface": "eth0"},
     "drivers/net/ethernet/broadcom/tg3.c tg3_link_report"),
    ("NETDEV WATCHDOG: eth0 (e1000e): transmit queue 0 timed out", "netdev_tx_timeout", W, {"interface": "eth0"},
     "net/sched/sch_generic.c dev_watchdog (WARN_ONCE), 3.10-6.x"),
    ("NETDEV WATCHDOG: eno1 (ixgbe): transmit queue 3 timed out 5376 ms", "netdev_tx_timeout", W, {"interface": "eno1"},
     "net/sched/sch_generic.c dev_watchdog, 6.x"),
    ("e1000e 0000:00:1f.6 eno1: NETDEV WATCHDOG: CPU: 3: transmit queue 0 timed out 5376 ms", "netdev_tx_timeout", W,
     {"interface": "eno1"}, "net/sched/sch_generic.c dev_watchdog (netdev_crit), newest"),
    ("igb 0000:01:00.0 eno1: The network adapter was stopped because it overheated", "nic_overheat", C,
     {"interface": "eno1"}, "drivers/net/ethernet/intel/igb/igb_main.c igb_watchdog_task"),
    ("ixgbe 0000:03:00.0 eth2: Network adapter has been stopped because it has over heated. Restart the computer. If "
     "the problem persists, power off the system and replace the adapter", "nic_overheat", C, {"interface": "eth2"},
     "drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_check_overtemp_event"),
    # -- PCIe AER ------------------------------------------------------------------------------------
    ("pcieport 0000:00:1c.0: AER: Correctable error message received from 0000:03:00.0", "pcie_aer_corrected", W,
     {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, 6.x"),
    ("pcieport 0000:00:03.0: AER: Uncorrectable (Non-Fatal) error message received from 0000:04:00.1",
     "pcie_aer_uncorrected", C, {"pci": "0000:00:03.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, 6.x"),
    ("pcieport 0000:00:1c.0: AER: Multiple Corrected error message received from 0000:03:00.0", "pcie_aer_corrected", W,
     {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, after 6.8 (before the Correctable strings)"),
    ("pcieport 0000:00:03.0: AER: Uncorrected (Fatal) error message received from 0000:04:00.0", "pcie_aer_uncorrected", C,
     {"pci": "0000:00:03.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, after 6.8 (before the Correctable strings)"),
    ("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:03:00.0", "pcie_aer_corrected", W,
     {"pci": "0000:00:1c.0", "source": "0000:03:00.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, 4.19-6.8+"),
    ("pcieport 0000:00:03.0: AER: Multiple Uncorrected (Non-Fatal) error received: 0000:04:00.0", "pcie_aer_uncorrected",
     C, {"pci": "0000:00:03.0"}, "drivers/pci/pcie/aer.c aer_print_port_info, 4.19-6.8+"),
    ("pcieport 0000:00:03.0: AER: Uncorrected (Non-Fatal) error received: id=0400", "pcie_aer_uncorrected", C,
     {"pci": "0000:00:03.0"}, "drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_port_info, 3.10"),
    ("pcieport 0000:00:1c.0: AER: Multiple Corrected error received: id=00e0", "pcie_aer_corrected", W,
     {"pci": "0000:00:1c.0", "source_id": "00e0"}, "drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_port_info, 3.10"),
    ("pcieport 0000:00:1c.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00e0(Receiver ID)",
     "pcie_bus_error", W, {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_error, 3.10"),
    ("pcieport 0000:00:1c.0: PCIe Bus Error: severity=Corrected, type=Unaccessible, id=00e0(Unregistered Agent ID)",
     "pcie_bus_error", W, {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_error, 3.10"),
    ("pcieport 0000:00:1c.0: AER: PCIe Bus Error: severity=Corrected, type=Data Link Layer, (Transmitter ID)",
     "pcie_bus_error", W, {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer.c aer_print_error (pci_err), 4.19-5.x"),
    ("mlx5_core 0000:5e:00.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Requester ID)",
     "pcie_bus_error", C, {"pci": "0000:5e:00.0"}, "drivers/pci/pcie/aer.c aer_print_error (pci_printk), 5.x-6.8+"),
    ("pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)", "pcie_bus_error", W,
     {"pci": "0000:00:1c.5"}, "drivers/pci/pcie/aer.c aer_print_error (pci_printk: no \"AER: \"), 5.x-6.8+"),
    ("pcieport 0000:00:1c.0: AER: PCIe Bus Error: severity=Corrected, type=Inaccessible, (Unregistered Agent ID)",
     "pcie_bus_error", W, {"pci": "0000:00:1c.0"}, "drivers/pci/pcie/aer.c aer_print_error (pci_err), 4.19-6.8+"),
    ("igb 0000:02:00.0: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Completer ID)",
     "pcie_bus_error", C, {"pci": "0000:02:00.0"}, "drivers/pci/pcie/aer.c aer_print_error, 6.x"),
    ("cxl_pci 0000:0d:00.0: CXL Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Requester ID)",
     "pcie_bus_error", C, {"pci": "0000:0d:00.0"}, "drivers/pci/pcie/aer.c aer_print_error, newest (bus_type)"),
    ("pcieport 0000:00:01.4: DPC: containment event, status:0x1f01 source:0x0000", "pcie_dpc", C,
     {"pci": "0000:00:01.4"}, "drivers/pci/pcie/dpc.c dpc_process_error, 5.x+"),
    ("dpc 0000:00:01.4:pcie010: DPC containment event, status:0x1f01 source:0x0000", "pcie_dpc", C,
     {"pci": "0000:00:01.4"}, "drivers/pci/pcie/dpc.c dpc_work (a port service device), 4.x"),
    ("pcieport 0000:00:03.0: AER: device recovery failed", "pcie_recovery_failed", C, {"pci": "0000:00:03.0"},
     "drivers/pci/pcie/err.c pcie_do_recovery, 4.19+"),
    ("pcieport 0000:00:01.0: AER: subordinate device reset failed", "pcie_recovery_failed", C, {},
     "drivers/pci/pcie/err.c pcie_do_recovery (via aer_root_reset), 5.x+"),
    ("pcieport 0000:00:01.0: AER: link reset failed", "pcie_recovery_failed", C, {"port": "0000:00:01.0"},
     "drivers/pci/pcie/err.c pcie_do_recovery, 5.x before subordinate resets"),
    ("pcieport 0000:00:03.0: AER: Device recovery failed", "pcie_recovery_failed", C, {"pci": "0000:00:03.0"},
     "drivers/pci/pcie/aer/aerdrv_core.c do_recovery, 3.10; err.c pcie_do_recovery, 4.19-5.x"),
    ("nvme 0000:04:00.0: AER: Can't recover (no error_detected callback)", "pcie_recovery_failed", C,
     {"port": "0000:04:00.0"}, "drivers/pci/pcie/err.c report_error_detected, 5.x"),
    # -- segfaults and traps ---------------------------------------------------------------------------
    ("traps: java[4242] general protection fault ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]",
     "segfault", INFO, {"process": "java", "pid": "4242"}, "arch/x86/kernel/traps.c do_general_protection, 4.18+"),
    ("java[4242] general protection ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]",
     "segfault", INFO, {"process": "java", "pid": "4242"},
     "arch/x86/kernel/traps.c do_general_protection printk(KERN_INFO), 2.6.32-3.6 (RHEL 6): no 'traps: ' yet"),
    ("traps: java[4242] general protection ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]",
     "segfault", INFO, {"process": "java", "pid": "4242"},
     "arch/x86/kernel/traps.c do_general_protection pr_info (pr_fmt KBUILD_MODNAME), 3.7-5.x (RHEL 7)"),
    ("traps: a.out[777] trap invalid opcode ip:401126 sp:7ffc0b8e1c40 error:0 in a.out[401000+1000]", "segfault", INFO,
     {"process": "a.out", "pid": "777"}, "arch/x86/kernel/traps.c do_trap pr_info, 3.10-5.x"),
    ("python3[4242]: segfault at 0 ip 00007f3a1c2b4d10 sp 00007ffd5e6f7a80 error 4 in libc.so.6[7f3a1b000000+195000] "
     "likely on CPU 3 (core 3, socket 0)", "segfault", INFO, {"process": "python3", "pid": "4242"},
     "arch/x86/mm/fault.c show_signal_msg, 6.1+"),
    ("systemd[1]: segfault at 0 ip 000055d1c2a3b4c5 sp 00007ffc1a2b3c40 error 4 in systemd[55d1c2a00000+e6000] "
     "likely on CPU 0 (core 0, socket 0)", "init_crash", C, {"process": "systemd", "pid": "1"},
     "arch/x86/mm/fault.c show_signal_msg (KERN_EMERG for PID 1), 6.1+"),
    ("traps: a.out[777] trap divide error ip:401126 sp:7ffc0b8e1c40 error:0 in a.out[401000+1000]", "segfault", INFO,
     {"process": "a.out", "pid": "777"}, "arch/x86/kernel/traps.c do_trap, 4.18+"),
    ("systemd[1]: segfault at 0 ip 000055d1c2a3b4c5 sp 00007ffc1a2b3c40 error 4 in systemd[55d1c2a00000+e6000]",
     "init_crash", C, {"process": "systemd", "pid": "1"}, "arch/x86/mm/fault.c show_signal_msg"),
    ("traps: systemd[1] general protection fault ip:7f00aa11bb22 sp:7ffe33445566 error:0 in libc.so.6[7f00aa000000+195000]",
     "init_crash", C, {"process": "systemd", "pid": "1"}, "arch/x86/kernel/traps.c"),
    # -- oopses (also the headline of a pstore record) -------------------------------------------------
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", "kernel_oops", C, {},
     "arch/x86/mm/fault.c show_fault_oops, 3.10-4.18"),
    ("BUG: kernel NULL pointer dereference, address: 0000000000000008", "kernel_oops", C, {},
     "arch/x86/mm/fault.c show_fault_oops, 5.x+"),
    ("kernel BUG at fs/ext4/inode.c:2716!", "kernel_oops", C, {}, "lib/bug.c report_bug (x86 BUG() is ud2), 3.10-mainline"),
    ("BUG: Bad page state in process java  pfn:2f3b71", "kernel_bug", C, {"process": "java"},
     "mm/page_alloc.c bad_page, 3.10-mainline"),
    ("BUG: scheduling while atomic: kworker/3:1/1234/0x00000002", "kernel_bug", W,
     {"process": "kworker/3:1", "pid": "1234"}, "kernel/sched/core.c __schedule_bug, 3.10-mainline"),
    ("WARNING: CPU: 2 PID: 0 at net/sched/sch_generic.c:300 dev_watchdog+0x248/0x260()", "kernel_warning", W, {},
     "kernel/panic.c warn_slowpath_common, 3.1x"),
    ("WARNING: CPU: 3 PID: 1234 at fs/xfs/xfs_buf.c:1022 xfs_buf_ioend+0x1b6/0x1e0 [xfs]", "kernel_warning", W, {},
     "kernel/panic.c __warn, 4.x-mainline"),
    ("Oops: 0002 [#1] SMP", "kernel_oops", C, {}, "arch/x86/kernel/dumpstack.c __die, 3.10"),
    ("general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI",
     "kernel_oops", C, {}, "arch/x86/kernel/traps.c exc_general_protection + dumpstack.c __die_header, 5.5-6.9"),
    ("BUG: unable to handle kernel NULL pointer dereference at           (null)", "kernel_oops", C, {},
     "arch/x86/mm/fault.c show_fault_oops, 3.10 (%p of NULL prints a right-aligned '(null)')"),
    ("BUG: unable to handle kernel paging request at ffffc90000f3c000", "kernel_oops", C, {},
     "arch/x86/mm/fault.c show_fault_oops, 3.10-5.1"),
    ("BUG: unable to handle page fault for address: ffffc90000f3c000", "kernel_oops", C, {},
     "arch/x86/mm/fault.c show_fault_oops, 5.2+"),
    ("general protection fault: 0000 [#1] SMP", "kernel_oops", C, {}, "arch/x86/kernel/traps.c die(), 3.10-5.4"),
    ("Oops: 0002 [#1] SMP PTI", "kernel_oops", C, {}, "arch/x86/kernel/dumpstack.c __die, 4.15-5.x (RHEL 8)"),
    ("Oops: 0000 [#1] PREEMPT SMP NOPTI", "kernel_oops", C, {}, "arch/x86/kernel/dumpstack.c __die_header, 5.x-6.9"),
    ("Oops: Oops: 0002 [#1] PREEMPT SMP PTI", "kernel_oops", C, {},
     "arch/x86/kernel/dumpstack.c __die_header 'Oops: %s: ...', 6.10+ (a page fault's str is \"Oops\")"),
    ("Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP "
     "NOPTI", "kernel_oops", C, {}, "arch/x86/kernel/dumpstack.c __die_header, 6.10+"),
    # -- the network stack's tables, NFS and CIFS (issue #16's catalogue, second pass) -------------
    ('nf_conntrack: table full, dropping packet', 'conntrack_full', C, {},
     'net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc, 3.10-4.x'),
    ('nf_conntrack: nf_conntrack: table full, dropping packet', 'conntrack_full', C, {},
     'nf_conntrack_core.c with its pr_fmt KBUILD_MODNAME ": ", 4.15+'),
    ('nf_conntrack: nf_conntrack: table full in netns 4026532256, dropping packet', 'conntrack_full', C, {},
     "nf_conntrack_core.c, a container's own table (mainline, 2025)"),
    ('nfs: server nfs01 not responding, still trying', 'nfs_not_responding', W, {'server': 'nfs01'},
     'net/sunrpc/clnt.c call_timeout / rpc_check_timeout, 3.10-6.x (a hard mount waits)'),
    ('nfs: server nfs01 not responding, timed out', 'nfs_not_responding', C, {'server': 'nfs01'},
     "net/sunrpc/clnt.c, a soft mount's I/O fails with EIO"),
    ('lockd: server 10.0.0.5 not responding, timed out', 'nfs_not_responding', C, {'server': '10.0.0.5'},
     "net/sunrpc/clnt.c, the NLM client's program name"),
    ('CIFS: VFS: \\\\fs01 has not responded in 180 seconds. Reconnecting...', 'cifs_not_responding', W, {'server': 'fs01'},
     'fs/cifs/connect.c server_unresponsive (cifs_server_dbg), 5.8+'),
    ('TCP: TCP: Possible SYN flooding on port 80. Sending cookies.  Check SNMP counters.', 'syn_flood', W, {},
     'net/ipv4/tcp_ipv4.c tcp_syn_flood_action, 3.5-4.3'),
    ('TCP: request_sock_TCP: Possible SYN flooding on port 80. Sending cookies.  Check SNMP counters.', 'syn_flood', W, {},
     'net/ipv4/tcp_input.c tcp_syn_flood_action, 4.4-5.x'),
    ('TCP: out of memory -- consider tuning tcp_mem', 'tcp_memory', W, {},
     'net/ipv4/tcp.c tcp_check_oom, 3.10-6.x'),
    ('TCP: too many orphaned sockets', 'tcp_memory', W, {},
     'net/ipv4/tcp.c tcp_check_oom, 3.10-6.x'),
    ('neighbour: arp_cache: neighbor table overflow!', 'neighbour_overflow', W, {'table': 'arp_cache'},
     'net/core/neighbour.c neigh_alloc, 3.x-6.x'),
    # -- NIC hangs and adapters gone ---------------------------------------------------------------
    ('e1000e 0000:00:1f.6 eno1: Detected Hardware Unit Hang:', 'nic_hang', W, {'interface': 'eno1'},
     'drivers/net/ethernet/intel/e1000e/netdev.c e1000_print_hw_hang (e_err), 3.x-6.x'),
    ('igb 0000:04:00.0: Detected Tx Unit Hang', 'nic_hang', W, {'pci': '0000:04:00.0'},
     'drivers/net/ethernet/intel/igb/igb_main.c igb_clean_tx_irq (dev_err on the PCI device), 3.x-6.x'),
    ('ixgbe 0000:03:00.0 eth2: Detected Tx Unit Hang', 'nic_hang', W, {'interface': 'eth2'},
     'drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_clean_tx_irq (e_err), 3.x-6.x'),
    ('igb 0000:04:00.0 eth0: PCIe link lost', 'nic_lost', C, {'interface': 'eth0'},
     'drivers/net/ethernet/intel/igb/igb_main.c igb_rd32'),
    ('igc 0000:0b:00.0 enp11s0: PCIe link lost, device now detached', 'nic_lost', C, {'interface': 'enp11s0'},
     'drivers/net/ethernet/intel/igc/igc_main.c igc_rd32, 5.0+'),
    ('ixgbe 0000:03:00.0: Adapter removed', 'nic_lost', C, {'pci': '0000:03:00.0'},
     'drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_remove_adapter, 3.15-6.x'),
    ("mlx5_core 0000:3b:00.0: poll_health:801:(pid 0): device's health compromised - reached miss count", 'nic_lost', C, {'pci': '0000:3b:00.0'},
     'drivers/net/ethernet/mellanox/mlx5/core/health.c poll_health (mlx5_core_err)'),
    ('mlx4_en: eth2: Link Down', 'link_down', W, {'interface': 'eth2'},
     'drivers/net/ethernet/mellanox/mlx4/en_netdev.c mlx4_en_linkstate (en_info), 3.x-6.x'),
    ('mlx4_en: eth2: Link Up', 'link_up', INFO, {'interface': 'eth2'},
     'drivers/net/ethernet/mellanox/mlx4/en_netdev.c'),
    # -- storage: thin pools, snapshots, RAID controllers, md, SCSI ----------------------------------
    ('device-mapper: thin: 252:4: switching pool to out-of-data-space (error IO) mode', 'dm_thin_pool', C, {'device': '252:4'},
     'drivers/md/dm-thin.c notify_of_pool_mode_change (DMINFO), 4.x-6.x'),
    ('device-mapper: thin: 252:4: switching pool to out-of-data-space (queue IO) mode', 'dm_thin_pool', C, {'device': '252:4'},
     'drivers/md/dm-thin.c notify_of_pool_mode_change'),
    ('device-mapper: thin: 252:4: switching pool to read-only mode', 'dm_thin_pool', C, {'device': '252:4'},
     'drivers/md/dm-thin.c notify_of_pool_mode_change (metadata out of space or failed)'),
    ('device-mapper: thin: 252:4: switching pool to fail mode', 'dm_thin_pool', C, {'device': '252:4'},
     'drivers/md/dm-thin.c notify_of_pool_mode_change'),
    ('device-mapper: snapshots: Invalidating snapshot: Unable to allocate exception.', 'dm_snapshot_invalid', C, {},
     'drivers/md/dm-snap.c __invalidate_snapshot (-ENOMEM: the snapshot is full)'),
    ('device-mapper: snapshots: Invalidating snapshot: Error reading/writing.', 'dm_snapshot_invalid', C, {},
     'drivers/md/dm-snap.c __invalidate_snapshot (-EIO)'),
    ('megaraid_sas 0000:18:00.0: 12345 (boot + 25s/0x0004/CRIT) - VD 01/1 is now DEGRADED', 'raid_controller_event', C, {'pci': '0000:18:00.0'},
     "drivers/scsi/megaraid/megaraid_sas_base.c megasas_decode_evt (the text is the firmware's)"),
    ('megaraid_sas 0000:18:00.0: 12346 (712345678s/0x0002/FATAL) - Controller encountered a fatal error and was reset', 'raid_controller_event', C, {'pci': '0000:18:00.0'},
     'megaraid_sas_base.c megasas_decode_evt, an absolute time'),
    ('mpt3sas_cm0: fault_state(0x2622)!', 'raid_controller_fault', C, {'device': 'mpt3sas_cm0'},
     'drivers/scsi/mpt3sas/mpt3sas_base.c mpt3sas_base_fault_info (ioc_err), 3.x-6.x'),
    ('mpt2sas0: fault_state(0x2622)!', 'raid_controller_fault', C, {'device': 'mpt2sas0'},
     'drivers/scsi/mpt2sas/mpt2sas_base.c mpt2sas_base_fault_info, 3.10-4.3'),
    ('hpsa 0000:03:00.0: Controller lockup detected: 0x00130000', 'raid_controller_fault', C, {'pci': '0000:03:00.0'},
     'drivers/scsi/hpsa.c controller_lockup_detected, 3.x'),
    ('md: kicking non-fresh sdb1 from array!', 'md_member_stale', W, {'device': 'sdb1'},
     'drivers/md/md.c analyze_sbs, 3.10-6.x'),
    ('md/raid:md0: not enough operational devices (2/4 failed)', 'md_array_failed', C, {'md': 'md0'},
     'drivers/md/raid5.c setup_conf/run, 3.x-6.x'),
    ('md/raid1:md0: Disk failure on sdb1, this is the last device.', 'md_disk_failure', C, {'md': 'md0', 'device': 'sdb1'},
     'drivers/md/raid1.c raid1_error, mainline 2025'),
    ('sd 2:0:0:0: Device offlined - not ready after error recovery', 'scsi_device_offline', C, {'device': '2:0:0:0'},
     'drivers/scsi/scsi_error.c scsi_eh_offline_sdevs, 2.6-6.x'),
    ('sd 2:0:0:0: rejecting I/O to offline device', 'scsi_device_offline', W, {'device': '2:0:0:0'},
     'drivers/scsi/scsi_lib.c scsi_prep_state_check, 3.10-6.x'),
    ('sd 2:0:0:0: [sdb] Medium access timeout failure. Offlining disk!', 'scsi_device_offline', C, {'device': 'sdb'},
     'drivers/scsi/sd.c sd_eh_action, 3.10-3.19'),
    ('sd 3:0:0:0: [sdc] tag#79 Medium access timeout failure. Offlining disk!', 'scsi_device_offline', C, {'device': 'sdc'},
     'drivers/scsi/sd.c sd_eh_action, 4.x+ (scmd_printk adds the tag)'),
    ('sd 2:0:0:0: [sdb] tag#3 timing out command, waited 180s', 'scsi_timeout', W, {'device': 'sdb'},
     'drivers/scsi/scsi_lib.c (scmd_printk), 5.x+'),
    # -- thermal, clocks, machine checks, memory -----------------------------------------------------
    ('CPU3: Package temperature above threshold, cpu clock throttled (total events = 1)', 'cpu_throttled', W, {},
     'arch/x86/kernel/cpu/mcheck/therm_throt.c therm_throt_process (KERN_CRIT), 3.10-4.19'),
    ('mce: CPU3: Core temperature above threshold, cpu clock throttled (total events = 12)', 'cpu_throttled', W, {},
     'arch/x86/kernel/cpu/mce/therm_throt.c (pr_fmt "mce: "), 4.20-5.4'),
    ('CPU3: Package temperature is above threshold, cpu clock is throttled (total events = 4231)', 'cpu_throttled', W, {},
     'drivers/thermal/intel/therm_throt.c throttle_active_work (pr_warn), 5.13+'),
    ('thermal thermal_zone0: critical temperature reached (105 C), shutting down', 'thermal_shutdown', C, {},
     'drivers/thermal/thermal_core.c handle_critical_trips (dev_emerg), 4.1x-5.11'),
    ("Critical temperature reached(105 C),shutting down", "thermal_shutdown", C, {},
     "drivers/thermal/thermal_sys.c, 3.10 (pr_emerg)"),
    ("thermal thermal_zone0: critical temperature reached(105 C),shutting down", "thermal_shutdown", C, {},
     "drivers/thermal/thermal_core.c (dev_emerg), 3.1x-4.x"),
    ("thermal thermal_zone0: acpitz: critical temperature reached", "thermal_shutdown", C, {},
     "drivers/thermal/thermal_core.c thermal_zone_device_halt, newest mainline"),
    ("reboot: HARDWARE PROTECTION shutdown (Temperature too high)", "hardware_protection_shutdown", C, {},
     "kernel/reboot.c hw_protection_shutdown (pr_emerg, pr_fmt \"reboot: \"), from thermal_core.c, 5.13+"),
    ('thermal thermal_zone0: acpitz: critical temperature reached, shutting down', 'thermal_shutdown', C, {},
     'drivers/thermal/thermal_core.c thermal_zone_device_critical, 5.12+'),
    ("clocksource: timekeeping watchdog on CPU67: Marking clocksource 'tsc' as unstable because the skew is too large:", 'clocksource_unstable', W, {'clocksource': 'tsc'},
     'kernel/time/clocksource.c clocksource_watchdog, 4.3-6.x'),
    ('Clocksource tsc unstable (delta = -95089577 ns)', 'clocksource_unstable', W, {'clocksource': 'tsc'},
     'kernel/time/clocksource.c clocksource_unstable, 3.10-4.2'),
    ('mce: CMCI storm detected: switching to poll mode', 'cmci_storm', W, {},
     'arch/x86/kernel/cpu/mce/intel.c cmci_storm_detect, 4.20-6.7'),
    ('RAS: Soft-offlining pfn: 0x10cb39', 'memory_soft_offline', W, {'pfn': '0x10cb39'},
     'drivers/ras/cec.c cec_add_elem, 4.13+'),
    ('Memory failure: 0x10cb39: unhandlable page.', 'memory_failure', W, {'pfn': '0x10cb39'},
     'mm/memory-failure.c get_any_page (a soft offline that cannot move the page), 5.1x+'),
    ('Memory failure: 0x10cb39: recovery action for dirty LRU page: Recovered', 'memory_failure', C, {'pfn': '0x10cb39'},
     'mm/memory-failure.c action_result (an uncorrected error), 4.6-6.x'),
    # -- the kernel: limits, interrupts, oopses by other exceptions, page tables, XFS, ext4 -----------
    ('VFS: file-max limit 65536 reached', 'file_max', C, {},
     'fs/file_table.c alloc_empty_file, 3.10-6.x'),
    ('audit: backlog limit exceeded', 'audit_backlog', W, {},
     'kernel/audit.c audit_log_lost/audit_panic, 3.10-6.x'),
    ('irq 16: nobody cared (try booting with the "irqpoll" option)', 'irq_disabled', W, {'irq': '16'},
     'kernel/irq/spurious.c __report_bad_irq, 3.10-6.x'),
    ('divide error: 0000 [#1] SMP PTI', 'kernel_oops', C, {},
     'arch/x86/kernel/dumpstack.c __die_header, 4.15-6.9'),
    ('stack segment: 0000 [#1] SMP NOPTI', 'kernel_oops', C, {},
     'arch/x86/kernel/dumpstack.c __die_header, 4.15-6.9'),
    ('double fault: 0000 [#1] SMP', 'kernel_oops', C, {},
     'arch/x86/kernel/dumpstack.c __die, without PTI'),
    ('invalid opcode: 0000 [#1] SMP PTI', 'kernel_oops', C, {},
     "arch/x86/kernel/dumpstack.c __die_header (BUG()'s ud2), 4.15-6.9"),
    ('BUG: Bad page map in process java  pte:8000000b3e6a4067 pmd:b3e6a5067', 'kernel_bug', C, {'process': 'java'},
     'mm/memory.c print_bad_pte, 3.10-6.x'),
    ('XFS: java(1234) possible memory allocation deadlock size 65552 in kmem_alloc (mode:0x250)', 'fs_alloc_deadlock', W, {},
     'fs/xfs/kmem.c kmem_alloc, 4.x-6.8'),
    ('XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)', 'fs_alloc_deadlock', W, {},
     'fs/xfs/kmem.c kmem_alloc, 3.10-4.1'),
    ('EXT4-fs (sda1): error count since last fsck: 5', 'fs_unrepaired', W, {'device': 'sda1'},
     'fs/ext4/super.c print_daily_error_info, 3.10-6.x'),
    # -- IOMMU faults, NVSwitch ----------------------------------------------------------------------
    ('DMAR: [DMA Read NO_PASID] Request device [3b:00.0] fault addr 0xffe00000 [fault reason 0x06] PTE Read access is not set', 'iommu_fault', W, {'pci': '3b:00.0'},
     'drivers/iommu/intel/dmar.c dmar_fault_do_one, 5.x-6.x'),
    ('DMAR: [DMA Read] Request device [3b:00.0] fault addr ffe00000 [fault reason 06] PTE Read access is not set', 'iommu_fault', W, {'pci': '3b:00.0'},
     'drivers/iommu/dmar.c dmar_fault_do_one, 4.2-5.x'),
    ('ahci 0000:28:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0035 address=0x7fffff00000 flags=0x0000]', 'iommu_fault', W, {'pci': '0000:28:00.0'},
     'drivers/iommu/amd/iommu.c amd_iommu_report_page_fault, 5.0+'),
    ('AMD-Vi: Event logged [IO_PAGE_FAULT device=28:00.0 domain=0x0035 address=0x7fffff00000 flags=0x0000]', 'iommu_fault', W, {},
     'drivers/iommu/amd/iommu.c amd_iommu_report_page_fault (no device data), 5.0+'),
    ('nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 11001, Fatal, Link 44 ingress invalid command (First)', 'gpu_nvswitch_sxid', C, {'pci': 'PCI:0000:05:00.0'},
     'NVIDIA open-gpu-kernel-modules intr_nvswitch.h NVSWITCH_REPORT_FATAL'),
    ('nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)', 'gpu_nvswitch_sxid', W, {'pci': 'PCI:0000:05:00.0'},
     'NVIDIA open-gpu-kernel-modules intr_nvswitch.h NVSWITCH_REPORT_NONFATAL'),
]  # fmt: skip

NEGATIVE = [
    # Benign lines from the same subsystems and drivers.
    "NVRM: GPU 0000:01:00.0: rm_init_adapter succeeded",
    "NVRM: GPU 0000:01:00.0: RmInitAdapter succeeded!",
    "EDAC sbridge MC0: CPU 0: Machine Check Event: 0 Bank 7: 8c00004000010090",  # a CE's detail, at debug level
    "NMI watchdog: enabled on all CPUs, permanently consumes one hw-PMU counter.",
    "NMI watchdog: Disabling hard lockup detector permanently",
    "INFO: Stall ended before state dump start",
    "rcu: RCU callbacks invoked since boot: 1234567",
    "------------[ cut here ]------------",  # the line before a WARNING or BUG, alone says nothing
    "Dazed and confused, but trying to continue",  # after an NMI error line, which alerts
    "EDAC MC0: Giving out device to module sb_edac controller Sandy Bridge SrcID#0_Ha#0: DEV 0000:7f:0e.0 (INTERRUPT)",
    "EDAC sbridge: Seeking for: PCI ID 8086:3ca0",
    "EDAC MC: Ver: 3.0.0",
    "ERST: Error Record Serialization Table (ERST) support is initialized.",
    "HEST: Table parsing has been initialized.",
    "GHES: APEI firmware first mode is enabled by APEI bit and WHEA _OSC.",
    "mce: CPU0: Thermal monitoring enabled (TM1)",
    "MCE: In-kernel MCE decoding enabled.",
    "NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build",
    "NVRM: GPU at PCI:0000:3b:00: GPU-8b3c1f0e-5d2a-4c61-9a1b-0c7e2d3f4a5b",
    "NVRM: GPU Board Serial Number: 1321020012345",
    "nvidia-nvlink: Nvlink Core is being initialized, major device number 236",
    "EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)",
    "EXT4-fs (sda1): recovery complete",
    "EXT4-fs (dm-0): re-mounted. Opts: errors=remount-ro",
    "XFS (dm-0): Mounting V5 Filesystem",
    "XFS (dm-0): Ending clean mount",
    "XFS (sdb1): Unmounting Filesystem",
    "BTRFS info (device sda2): disk space caching is enabled",
    "BTRFS: device fsid 0b2f1c3e-9d8a-4b7c-a6e5-1f2d3c4b5a69 devid 1 transid 1234 /dev/sda2 scanned by systemd-udevd (412)",
    "JBD2: Spotted dirty metadata buffer (dev = dm-0, blocknr = 0). There's a risk of filesystem corruption in case of system crash.",
    "nvme nvme0: pci function 0000:01:00.0",
    "nvme nvme0: 8/0/0 default/read/poll queues",
    "nvme nvme0: Shutdown timeout set to 10 seconds",
    "nvme0n1: detected capacity change from 0 to 1000204886016",
    "loop0: detected capacity change from 0 to 8",
    "loop3: detected capacity change from 112576 to 0",  # a snap unmounted
    "md127: detected capacity change from 3906764800 to 0",  # mdadm --stop
    "ata1: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
    "blk_update_request: I/O error, dev fd0, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",  # VM floppy probe
    "print_req_error: I/O error, dev sr0, sector 0",  # an empty CD-ROM drive
    "sd 2:0:0:0: [sdb] Sense Key : Unit Attention [current]",
    "nvme nvme0: allocated 64 MiB host memory buffer.",
    "ata1.00: configured for UDMA/133",
    "ata2: exception Emask 0x10 SAct 0x0 SErr 0x4050000 action 0xe frozen",  # hotplug on the link
    "sd 0:0:0:0: [sda] 1953525168 512-byte logical blocks: (1.00 TB/932 GiB)",
    "rcu: Hierarchical RCU implementation.",
    "rcu: \tRCU restricting CPUs from NR_CPUS=8192 to nr_cpu_ids=16.",
    "NMI watchdog: Enabled. Permanently consumes one hw-PMU counter.",
    "watchdog: Disabling watchdog on nohz_full cores by default",
    "bonding: Ethernet Channel Bonding Driver: v5.15.0",
    "bond0: (slave eth1): Enslaving as a backup interface with an up link",
    "bond0: (slave eth0): making interface the new active one",
    "bond0: active interface up!",
    "r8169 0000:02:00.0 eth0: RTL8168h/8111h, 00:e0:4c:68:01:02, XID 541, IRQ 128",
    "pcieport 0000:00:1c.0: AER: enabled with IRQ 122",
    "pcieport 0000:00:03.0: AER: device recovery successful",
    "pci 0000:00:1c.0: AER: can't find device of ID00e0",
    "Out of memory while allocating the cache (requested 1 GB)",
    "oom_reaper: reaped process 4242 (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
    "Memory cgroup stats for /kubepods/pod1:",
    "Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc 11.4.0) #101-Ubuntu SMP",
    "Kernel command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro panic=10",
    "pstore: Registered efi as persistent store backend",
    "pstore: Using crash dump compression: deflate",
    "systemd[1]: Started Session 4 of user alice.",
    "traps: probe of crashkernel region done",
    # file systems, block, NVMe, links, AER (issue #16): the same subsystems' routine lines.
    "ata2: SATA link down (SStatus 0 SControl 300)",  # an empty SATA port at boot
    "print_req_error: operation not supported error, dev loop0, sector 0",  # discard on a loop device
    "sd 2:0:0:0: [sdb] tag#3 Sense Key : Not Ready [current]",
    "sd 2:0:0:0: [sdb] Sense Key : Illegal Request [current]",
    "XFS (sdb1): Ending recovery (logdev: internal)",
    "BTRFS info (device sdc1): using crc32c (crc32c-intel) checksum algorithm",
    "IPv6: ADDRCONF(NETDEV_UP): eth0: link is not ready",
    "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "bond0: link status up again after 0 ms for interface eth1.",
    # The operator's downdelay counting (bond_miimon_inspect, 3.10 pr_info, 4.x netdev_info, 5.4+ slave_info):
    # "definitely down" follows if the link stays down, "up again" if it came back; nothing ends an alert
    # raised here, so it stayed firing for good after a flap shorter than the delay.
    "bond0: link status down for active interface eth0, disabling it in 200 ms.",
    "bond0: link status down for active interface eth0, disabling it in 200 ms",
    "bond0: (slave ens1f0): link status down for active interface, disabling it in 200 ms",
    "bond0: (slave ens1f0): link status up again after 100 ms",
    "tg3 0000:02:00.0 eth0: Flow control is off for TX and off for RX",
    "e1000e 0000:00:19.0 eth0: 10/100 speed: disabling TSO",
    "pcieport 0000:00:03.0: AER: Device recovery successful",
    "Buffer I/O error on dev fd0, logical block 0, async page read",  # a VM's floppy probe
    "Buffer I/O error on dev sr0, logical block 0, async page read",  # an empty CD-ROM drive
    "md/raid1:md0: active with 2 out of 2 mirrors",
    "device-mapper: multipath: version 1.14.0 loaded",
    "pcieport 0000:00:1b.0: DPC: error containment capabilities: Int Msg #0, RPExt+ PoisonedTLP+ SwTrigger+ RP PIO Log 4, "
    "DL_ActiveErr+",
    "XFS (dm-0): User initiated shutdown received. Shutting down filesystem",  # xfs_io -x -c shutdown, umount -f
    "pcieport 0000:00:1b.0: DPC: enabled with IRQ 122",
    # Benign siblings of the second pass's rows: the way back, summaries the detail line says, loop devices.
    "nfs: server nfs01 OK",
    "CPU3: Core temperature/speed normal",
    "CPU3: Package temperature/speed normal (total events = 4231)",
    "device-mapper: thin: 252:4: switching pool to write mode",
    # dmeventd's trigger to extend the pool (drivers/md/dm-thin.c check_low_water_mark): routine with autoextend.
    "device-mapper: thin: 252:4: reached low water mark for data device: sending event.",
    "DMAR: DRHD: handling fault status reg 3",  # the fault's own line follows, with the device
    "blk_update_request: I/O error, dev loop0, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",  # snapd
    "I/O error, dev loop3, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",
    "Buffer I/O error on dev loop0, logical block 0, async page read",
    "bond0: link status down for interface eth1, disabling it in 200 ms",
    "bond0: link status up again after 100 ms for interface eth1",
    "bond0: (slave eth1): link status down for interface, disabling it in 200 ms",
    "mce: CMCI storm subsided: switching to interrupt mode",
]  # fmt: skip


# How each positive line was checked against the kernel's own format string (issue #16, item 1):
# "read in <repo>@<commit> <path>" = the printk read in that tree; "find_string" = the exact format
# found in kernel source copies by the code index, which names no tree.  The lines not listed
# are the ones no stored source holds (test_unverified_lines_are_the_known_few says which, and why).
VERIFIED: dict[str, str] = {
    'NMI: PCI system error (SERR) for reason a1 on CPU 0.':
        'find_string on the format (kernel source copies, no tree named): pr_emerg("NMI: PCI system error (SERR) for reason %02x on CPU %d.\\n") (arch/x86/kernel/nmi.c pci_serr_error)',
    'NMI: IOCK error (debug interrupt?) for reason 71 on CPU 0.':
        'find_string on the format (kernel source copies, no tree named): pr_emerg("NMI: IOCK error (debug interrupt?) for reason %02x on CPU %d.\\n") (arch/x86/kernel/nmi.c io_check_error)',
    'Uhhuh. NMI received for unknown reason 3d on CPU 0.':
        'find_string on the format (kernel source copies, no tree named): pr_emerg("Uhhuh. NMI received for unknown reason %02x on CPU %d.\\n") (arch/x86/kernel/nmi.c unknown_nmi_error)',
    'BUG: Bad page state in process java  pfn:2f3b71':
        'find_string on the format (kernel source copies, no tree named): pr_alert("BUG: Bad page state in process %s  pfn:%05lx\\n") / printk(KERN_ALERT ...) (mm/page_alloc.c bad_page)',
    'BUG: scheduling while atomic: kworker/3:1/1234/0x00000002':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "BUG: scheduling while atomic: %s/%d/0x%08x\\n") (kernel/sched/core.c __schedule_bug)',
    'java: page allocation failure: order:4, mode:0x10c0d0':
        'find_string on the format (kernel source copies, no tree named): pr_warn("%s: page allocation failure: order:%u, mode:0x%x\\n", current->comm, order, gfp_mask) (mm/page_alloc.c warn_alloc_failed)',
    'kworker/u16:2: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)':
        'find_string on the format (kernel source copies, no tree named): warn_alloc(gfp_mask, ac->nodemask, "page allocation failure: order:%u", order) and the quoted "%s: page allocation failure: order:%u, mode:%#x(%pGg)"; the ", nodemask=%*pbl" of warn_alloc not read',
    'NMI watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [systemd-udevd:220]':
        'find_string on the format (kernel source copies, no tree named): #define pr_fmt(fmt) "NMI watchdog: " fmt at the top of a kernel/watchdog.c that "Detect[s] hard and soft lockups"; the line itself in a RHEL 7.3 (3.10.0-514) abrt report',
    'BUG: workqueue lockup - pool cpus=4 node=0 flags=0x0 nice=0 stuck for 30s!':
        'find_string on the format (kernel source copies, no tree named): pr_emerg("BUG: workqueue lockup - pool") (kernel/workqueue.c wq_watchdog_timer_fn); the pool fields and " stuck for %us!" from real reports, their pr_cont not read',
    'NVRM: nvGpuOpsReportFatalError: uvm encountered global fatal error 0x60, requiring os reboot to recover.':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_PRINTF(LEVEL_ERROR, "uvm encountered global fatal error 0x%x, ...") as quoted from src/nvidia/src/kernel/rmapi/nv_gpu_ops.c; the full text as in real reports',
    'WARNING: CPU: 2 PID: 0 at net/sched/sch_generic.c:300 dev_watchdog+0x248/0x260()':
        'find_string on the format (kernel source copies, no tree named): pr_warn("WARNING: CPU: %d PID: %d at %s:%d %pS()\\n") (kernel/panic.c warn_slowpath_common, 3.1x)',
    'WARNING: CPU: 3 PID: 1234 at fs/xfs/xfs_buf.c:1022 xfs_buf_ioend+0x1b6/0x1e0 [xfs]':
        'find_string on the format (kernel source copies, no tree named): pr_warn("WARNING: CPU: %d PID: %d at %s:%d %pS\\n") (kernel/panic.c __warn)',
    'Killed process 3127, UID 48, (httpd) total-vm:412300kB, anon-rss:220012kB, file-rss:12kB':
        'find_string on the format (kernel source copies, no tree named): "Killed process %d, UID %d, (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB" (2.6.32 mm/oom_kill.c oom_kill_task)',
    'kworker/u16:2 invoked oom-killer: gfp_mask=0x6200ca(GFP_HIGHUSER_MOVABLE), nodemask=(null), order=0, oom_score_adj=0':
        'find_string on the format (kernel source copies, no tree named): pr_warn("%s invoked oom-killer: gfp_mask=%#x(%pGg), nodemask=%*pbl, order=%d, oom_score_adj=%hd"), and the patch that dropped the nodemask from it (label corrected: was 4.18-5.15)',
    '{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0':
        'find_string on the format (kernel source copies, no tree named): snprintf(pfx_seq, "%s{%u}" HW_ERR, pfx, seqno); printk("%s""Hardware error from APEI Generic Hardware Error Source: %d\\n") (drivers/acpi/apei/ghes.c __ghes_print_estatus; KERN_WARNING when corrected)',
    '{1}[Hardware Error]: event severity: corrected':
        'find_string on the format (kernel source copies, no tree named): printk("%s""event severity: %s\\n", pfx, cper_severity_str(severity)) (drivers/firmware/efi/cper.c cper_estatus_print; the cper_severity_strs values not read)',
    '{2}[Hardware Error]: event severity: recoverable':
        'find_string on the format (kernel source copies, no tree named): cper_estatus_print, as above',
    '{3}[Hardware Error]: event severity: fatal':
        'find_string on the format (kernel source copies, no tree named): cper_estatus_print, as above',
    '{1}[Hardware Error]: It has been corrected by h/w and requires no further action':
        'find_string on the format (kernel source copies, no tree named): if (severity == CPER_SEV_CORRECTED) printk("%s%s\\n", pfx, "It has been corrected by h/w and requires no further action") (cper_estatus_print)',
    '[Hardware Error]: Corrected error, no action required.':
        'find_string on the format (kernel source copies, no tree named): decode_error_status() "Corrected error, no action required." printed by pr_emerg(HW_ERR "%s\\n") (drivers/edac/mce_amd.c amd_decode_mce)',
    '[Hardware Error]: Uncorrected, software restartable error.':
        'find_string on the format (kernel source copies, no tree named): decode_error_status(), as above',
    '[Hardware Error]: System Fatal error.':
        'find_string on the format (kernel source copies, no tree named): decode_error_status() "System Fatal error." (PCC), as above',
    '[Hardware Error]: Deferred error, no action required.':
        'find_string on the format (kernel source copies, no tree named): decode_error_status() "Deferred error, no action required.", as above',
    '[Hardware Error]: CPU:2 (15:2:0) MC4_STATUS[Over|UE|MiscV|PCC|AddrV|-|-]: 0xfe00000000070f0f':
        'find_string on the format (kernel source copies, no tree named): pr_emerg(HW_ERR "CPU:%d (%x:%x:%x) MC%d_STATUS[%s|%s|%s|%s|%s", ...) with "UE"/"CE" for MCI_STATUS_UC (mce_amd.c); the family-15h tail "|%s|%s" and "]: 0x%016llx" not read',
    '[Hardware Error]: CPU 2: Machine Check Exception: 5 Bank 4: b200000000070f0f':
        'find_string on the format (kernel source copies, no tree named): pr_emerg(HW_ERR "CPU %d: Machine Check Exception: %Lx Bank %d: %016Lx\\n") (3.x arch/x86/kernel/cpu/mcheck/mce.c print_mce)',
    'mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 7: cc00008000010090':
        'find_string on the format (kernel source copies, no tree named): pr_emerg(HW_ERR "CPU %d: Machine Check%s: %Lx Bank %d: %016Lx\\n", ..., MCG_STATUS_MCIP ? " Exception" : "") (mce/core.c __print_mce) and #define pr_fmt(fmt) "mce: " fmt (mce/internal.h); severity corrected: UC bit clear',
    'mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 1: bd80000000100134':
        'find_string on the format (kernel source copies, no tree named): __print_mce and pr_fmt, as above',
    'mce: [Hardware Error]: CPU 3: Machine Check: 0 Bank 5: be00000000800400':
        'find_string on the format (kernel source copies, no tree named): __print_mce and pr_fmt, as above',
    'mce: [Hardware Error]: Machine check: Processor context corrupt':
        'find_string on the format (kernel source copies, no tree named): if (exp) pr_emerg(HW_ERR "Machine check: %s\\n", exp) (mce_panic); the reason text from severity.c not read',
    'mce: [Hardware Error]: Machine check events logged':
        'find_string on the format (kernel source copies, no tree named): pr_info(HW_ERR "Machine check events logged\\n") (mce/core.c mce_log) and the "mce: " pr_fmt',
    'Memory failure: 0x2f3b71: Sending SIGBUS to java:4242 due to hardware memory corruption':
        'find_string on the format (kernel source copies, no tree named): pr_err("Memory failure: %#lx: Sending SIGBUS to %s:%d due to hardware memory corruption\\n") (mm/memory-failure.c kill_proc; 6.x writes "%#lx: Sending SIGBUS ..." under pr_fmt "Memory failure: ")',
    'Memory failure: 0x2f3b71: Killing java:4242 due to hardware memory corruption':
        'find_string on the format (kernel source copies, no tree named): pr_err("Memory failure: %#lx: Killing %s:%d due to hardware memory corruption\\n") (kill_proc, the line the SIGBUS wording replaced)',
    'MCE 0x2f3b71: Killing java:4242 due to hardware memory corruption':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "MCE %#lx: Killing %s:%d due to hardware memory corruption\\n") (3.x mm/memory-failure.c kill_proc)',
    'MCE 0x2f3b71: dirty LRU page recovery: Recovered':
        'find_string on the format (kernel source copies, no tree named): pr_err("MCE %#lx: %s page recovery: %s\\n", pfn, msg, action_name[result]) (3.x action_result); the "dirty LRU" msg from page_states not read',
    'MCE: Killing java:4242 due to hardware memory corruption fault at 7f3a1c2b4d10':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "MCE: Killing %s:%d due to hardware memory corruption fault at %lx\\n") (arch/x86/mm/fault.c do_sigbus)',
    'EDAC skx MC1: HANDLING MCE MEMORY ERROR':
        'find_string on the format (kernel source copies, no tree named): skx_mc_printk(mci, KERN_DEBUG, "HANDLING MCE MEMORY ERROR\\n") (drivers/edac/skx_common.c); the "skx" prefix of skx_mc_printk not read (corrected: was "EDAC i7core MC1: ...", which i7core_edac.c does not print)',
    'EDAC i7core: New Corrected error(s): dimm0: +1, dimm1: +0, dimm2 +0':
        'find_string on the format (kernel source copies, no tree named): i7core_printk(KERN_ERR, "New Corrected error(s): dimm0: +%d, dimm1: +%d, dimm2 +%d\\n") (drivers/edac/i7core_edac.c); the "EDAC i7core: " prefix of i7core_printk not read',
    'EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#2_DIMM#0 (channel:2 slot:0 page:0x8b3f4 offset:0x400 grain:32 syndrome:0x0)':
        'find_string on the format (kernel source copies, no tree named): edac_mc_printk(mci, KERN_WARNING, "%d CE %s%son %s (%s %s)\\n") (4.x edac_ce_error; 5.x "%d CE %s%son %s (%s page:0x%lx offset:0x%lx grain:%ld syndrome:0x%lx%s%s)")',
    'EDAC MC1: 1 UE memory read error on CPU_SrcID#1_Ha#0_Chan#0_DIMM#1 (channel:0 slot:1 page:0x1a2b3 offset:0x0 grain:32)':
        'find_string on the format (kernel source copies, no tree named): edac_mc_printk(mci, KERN_WARNING, "%d UE %s%son %s (%s %s)\\n") / "%d UE %s%son %s (%s page:0x%lx offset:0x%lx grain:%ld%s%s)" (edac_ue_error)',
    'EDAC MC0: CE page 0x1a2b3, offset 0x40, grain 64, syndrome 0x5, row 2, channel 1, label "DIMM_B1": i5000 CE':
        'find_string on the format (kernel source copies, no tree named): edac_mc_printk(mci, KERN_WARNING, "CE page 0x%lx, offset 0x%lx, grain %d, syndrome 0x%lx, row %d, channel %d, label \\"%s\\": %s\\n") (2.6.32 edac_mc_handle_ce)',
    'Kernel panic - not syncing: Fatal machine check':
        'find_string on the format (kernel source copies, no tree named): mce_panic("Fatal machine check", m, msg) (mce_reign, 4.x-mainline)',
    'Kernel panic - not syncing: Fatal Machine check':
        'find_string on the format (kernel source copies, no tree named): mce_panic("Fatal Machine check", m, msg) (3.x mce_reign)',
    'Kernel panic - not syncing: Fatal machine check on current CPU':
        'find_string on the format (kernel source copies, no tree named): mce_panic("Fatal machine check on current CPU", &m, msg) (do_machine_check)',
    'Kernel panic - not syncing: Fatal hardware error!':
        'find_string on the format (kernel source copies, no tree named): the string "Fatal hardware error!" among ghes.c\'s literals (__ghes_panic)',
    'NVRM: Xid (PCI:0000:17:00): 119, pid=1200, name=nvidia-smi, Timeout after 6s of waiting for RPC response from GPU0 GSP! Expected function 76 (GSP_RM_CONTROL) (0x20800a4c 0x4).':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid: "NVRM: Xid (" "PCI:%04x:%02x:%02x" "): %d, pid=%s, name=%s, %s%s"; the message by find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_ERROR_LOG(pGpu, GSP_RPC_TIMEOUT, "Timeout after %llus of waiting for RPC response from GPU%d GSP! Expected function %d (%s) (0x%llx 0x%llx).") (kernel_gsp.c _kgspLogXid119)',
    'NVRM: Xid (PCI:0000:17:00): 119, pid=1200, name=nvidia-smi, Timeout after 6s of waiting for RPC response from GPU0 GSP! Expected function 76 (GSP_RM_CONTROL) sequence 4242 (0x20800a4c 0x4).':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid (prefix); find_string on the format (open-gpu-kernel-modules copies, no tree named): #define GSP_RPC_TIMEOUT_XID_MESSAGE_FMT "Timeout after %llus of waiting for RPC response from GPU%u GSP! Expected function %u (%s) sequence %u (0x%llx 0x%llx)." (gsp_events.c)',
    'NVRM: Xid (PCI:0000:17:00 GPU-I:02 GPU-CI:01): 94, pid=3301, name=train, Contained ECC error.':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid: XID_PRINT_WITH_ATTR("PCI:%04x:%02x:%02x GPU-I:%02u GPU-CI:%02u", ...); the Xid 94 message text not in the open sources',
    'NVRM: Xid (PCI:0000:17:00): 45, pid=3301, name=train, Ch 00000010 caused by previous Xid 79':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid: " caused by previous Xid %d" appended for ROBUST_CHANNEL_PREEMPTIVE_REMOVAL; the "Ch 00000010" message text not in the open sources',
    'NVRM: Xid (PCI:0000:17:00): 74, pid=3301, name=train, NVLink: fatal error detected on link 3(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)':
        "read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid (prefix only); the NVLink message is not in the open sources (seen in NVIDIA NVSentinel's documented example)",
    'NVRM: Xid (PCI:0000:17:00): 109, pid=3301, name=train, Ch 00000010, errorString CTX SWITCH TIMEOUT, Info 0x1c084':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid (prefix only); the message text is not in the open sources',
    'NVRM: Xid (PCI:0000:17:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid "NVRM: Xid (PCI:...): %d, %s%s" (no process); the recovery-action text is not in the open sources (seen in real reports)',
    'NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 (OS Reboot)':
        'read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid (prefix only); "to 0x2 (OS Reboot)" as in real 570+/610 reports, the text not in the open sources',
    'NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)':
        "read in NVIDIA/open-gpu-kernel-modules@129479b1 src/nvidia/src/kernel/gpu/rc/kernel_rc.c krcReportXid (prefix only); the values are the format's, this direction not seen in a report",
    'NVRM: fallen off the bus and is not responding to commands.':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): nv_printf(NV_DBG_ERRORS, "NVRM: The NVIDIA GPU %04x:%02x:%02x.%x\\nNVRM: (PCI ID: %04x:%04x) installed in this system has\\nNVRM: fallen off the bus and is not responding to commands.\\n") when NV_PMC_BOOT_0 reads 0xFFFFFFFF (label corrected: not nv-pci.c nv_pci_probe)',
    'NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: (PCI ID: 10de:26b5) installed in this system has\nNVRM: fallen off the bus and is not responding to commands.':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): the same nv_printf, whole',
    'NVRM: The NVIDIA probe routine failed for 1 device(s).':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): nv_printf(NV_DBG_ERRORS, "NVRM: The NVIDIA probe routine failed for %d device(s).\\n") (kernel-open/nvidia/nv.c nvidia_init_module)',
    'NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x62:0x65:2029)':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_DEV_PRINTF(NV_DBG_ERRORS, nv, "RmInitAdapter failed! (0x%x:0x%x:%d)\\n") (osinit.c RmInitAdapter) and #define NV_DEV_PRINTF(...) nv_printf(debuglevel, "NVRM: GPU " NV_PCI_DEV_FMT ": " format, ...)',
    'NVRM: GPU 0000:01:00.0: rm_init_adapter failed, device minor number 0':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_DEV_PRINTF(NV_DBG_ERRORS, nv, "rm_init_adapter failed, device minor number %d\\n") (kernel-open/nvidia/nv.c nv_start_device)',
    'NVRM: rm_init_adapter failed, device minor number 0':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): nv_printf(NV_DBG_ERRORS, "NVRM: rm_init_adapter failed, device minor number %d\\n") (an nv.c without NV_DEV_PRINTF)',
    'NVRM: rm_init_adapter(0) failed':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): nv_printf(NV_DBG_ERRORS, "NVRM: rm_init_adapter(%d) failed\\n", devnum) (older nv.c)',
    'NVRM: _kgspLogXid119: ********************************* GSP Timeout **********************************':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_PRINTF(LEVEL_ERROR, "********************************* GSP Timeout **********************************\\n") (kernel_gsp.c _kgspLogXid119); the "<function>: " prefix of NV_PRINTF as in real reports, its macro not read',
    'NVRM: _kgspLogRpcSanityCheckFailure: GPU0 sanity check failed 0x62 waiting for RPC response from GSP. Expected function 76 (GSP_RM_CONTROL) (0x20800a4c 0x4).':
        'find_string on the format (open-gpu-kernel-modules copies, no tree named): NV_PRINTF(LEVEL_ERROR, "GPU%d sanity check failed 0x%x waiting for RPC response from GSP. Expected function %d (%s) (0x%llx 0x%llx).\\n") (kernel_gsp.c _kgspLogRpcSanityCheckFailure)',
    'INFO: rcu_sched detected stalls on CPUs/tasks: { 3} (detected by 1, t=60002 jiffies, g=11375, c=11374, q=224)':
        'find_string on the format (kernel source copies, no tree named): pr_err("INFO: %s detected stalls on CPUs/tasks:") ... pr_cont("(detected by %d, t=%ld jiffies, g=%ld, c=%ld, q=%lu)\\n") (3.x kernel/rcutree.c print_other_cpu_stall); the " {"/" %d"/"} " of CONFIG_RCU_CPU_STALL_INFO=n not read',
    'INFO: rcu_sched self-detected stall on CPU { 5}  (t=60000 jiffies g=11375 c=11374 q=230)':
        'find_string on the format (kernel source copies, no tree named): pr_err("INFO: %s self-detected stall on CPU") ... pr_cont(" (t=%lu jiffies g=%ld c=%ld q=%lu)\\n") (3.x print_cpu_stall)',
    'INFO: rcu_sched self-detected stall on CPU':
        'find_string on the format (kernel source copies, no tree named): print_cpu_stall as above, and print_cpu_stall_info_begin() { pr_cont("\\n"); } (CONFIG_RCU_CPU_STALL_INFO=y)',
    'rcu: INFO: rcu_sched detected stalls on CPUs/tasks:':
        'read in torvalds/linux@012bd506 kernel/rcu/tree_stall.h print_other_cpu_stall: pr_err("INFO: %s detected stalls on CPUs/tasks:\\n", rcu_state.name); the "rcu: " pr_fmt of kernel/rcu/tree.c by find_string',
    'rcu: INFO: rcu_preempt self-detected stall on CPU':
        'read in torvalds/linux@012bd506 kernel/rcu/tree_stall.h print_cpu_stall: pr_err("INFO: %s self-detected stall on CPU\\n", rcu_state.name); "rcu: " as above',
    'rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 7-... } 21004 jiffies s: 953 root: 0x80/.':
        'find_string on the format (kernel source copies, no tree named): pr_err("INFO: %s detected expedited stalls on CPUs/tasks: {") ... pr_cont(" %d-%c%c%c") ... pr_cont(" } %lu jiffies s: %lu root: %#lx/%c\\n") (kernel/rcu/tree_exp.h) and #define pr_fmt(fmt) "rcu: " fmt',
    'INFO: rcu_sched detected expedited stalls on CPUs/tasks: { 2-... } 21002 jiffies s: 417 root: 0x4/.':
        'find_string on the format (kernel source copies, no tree named): tree_exp.h as above (corrected: the line lacked " root: %#lx/%c"); which 4.x first printed the "rcu: " prefix was not pinned down',
    'NMI watchdog: Watchdog detected hard LOCKUP on cpu 6':
        'read in torvalds/linux@01f0a027 kernel/watchdog_hld.c (pr_fmt "NMI watchdog: ") watchdog_overflow_callback: pr_emerg("Watchdog detected hard LOCKUP on cpu %d", this_cpu)',
    'Watchdog detected hard LOCKUP on cpu 6':
        'read in torvalds/linux@004417a6 kernel/watchdog.c (2.6.3x-3.x era) watchdog_overflow_callback: WARN(1, "Watchdog detected hard LOCKUP on cpu %d", this_cpu) (label corrected: 6.x prints it under "watchdog: " with a "CPU%u: " in front)',
    'watchdog: CPU4: Watchdog detected hard LOCKUP on cpu 5':
        'read in gregkh/linux@3bd321a0 kernel/watchdog.c (pr_fmt "watchdog: ") watchdog_hardlockup_check: pr_emerg("CPU%u: Watchdog detected hard LOCKUP on cpu %u\\n", this_cpu, cpu)',
    'Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 6':
        'read in torvalds/linux@004417a6 kernel/watchdog.c (2.6.3x-3.x era): if (hardlockup_panic) panic("Watchdog detected hard LOCKUP on cpu %d", this_cpu)',
    'Kernel panic - not syncing: Hard LOCKUP':
        'read in torvalds/linux@01f0a027 kernel/watchdog_hld.c (pr_fmt "NMI watchdog: "): nmi_panic(regs, "Hard LOCKUP"); the same in gregkh/linux@3bd321a0 kernel/watchdog.c (pr_fmt "watchdog: ")',
    'Kernel panic - not syncing: softlockup: hung tasks':
        'read in torvalds/linux@004417a6 kernel/watchdog.c (2.6.3x-3.x era) and gregkh/linux@3bd321a0 kernel/watchdog.c (pr_fmt "watchdog: ") watchdog_timer_fn: panic("softlockup: hung tasks")',
    'BUG: soft lockup - CPU#3 stuck for 23s! [java:4242]':
        'read in torvalds/linux@004417a6 kernel/watchdog.c (2.6.3x-3.x era) watchdog_timer_fn: printk(KERN_ERR "BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]\\n")',
    'watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [java:4242]':
        'read in gregkh/linux@3bd321a0 kernel/watchdog.c (pr_fmt "watchdog: ") watchdog_timer_fn: pr_emerg("BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]\\n")',
    'INFO: task java:4242 blocked for more than 120 seconds.':
        'read in torvalds/linux@00b5cdeb kernel/hung_task.c hung_task_info: pr_err("INFO: task %s:%d blocked for more than %ld seconds.\\n") (AndreiLux/ref-3.10\'s copy is vendor-changed to "... %ld s.")',
    'Kernel panic - not syncing: hung_task: blocked tasks':
        'read in torvalds/linux@00b5cdeb kernel/hung_task.c: panic("hung_task: blocked tasks"); also in AndreiLux/ref-3.10@7e1de558 kernel/hung_task.c check_hung_task',
    'Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b':
        'find_string on the format (kernel source copies, no tree named): panic("Attempted to kill init! exitcode=0x%08x\\n", ...) (kernel/exit.c find_child_reaper in 3.x, do_exit later)',
    'java[4242] general protection ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_INFO "%s[%d] general protection ip:%lx sp:%lx error:%lx") + print_vma_addr(" in ") (arch/x86/kernel/traps.c do_general_protection before pr_info; label corrected: 3.10 prints it with pr_info under "traps: ")',
    'traps: java[4242] general protection ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s[%d] general protection ip:%lx sp:%lx error:%lx") under #define pr_fmt(fmt) KBUILD_MODNAME ": " fmt (3.x traps.c with exception_enter, read whole by id)',
    'traps: a.out[777] trap invalid opcode ip:401126 sp:7ffc0b8e1c40 error:0 in a.out[401000+1000]':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s[%d] trap %s ip:%lx sp:%lx error:%lx") with DO_ERROR(X86_TRAP_UD, SIGILL, "invalid opcode", invalid_op) (3.x traps.c do_trap)',
    'systemd[1]: segfault at 0 ip 000055d1c2a3b4c5 sp 00007ffc1a2b3c40 error 4 in systemd[55d1c2a00000+e6000]':
        'find_string on the format (kernel source copies, no tree named): printk("%s%s[%d]: segfault at %lx ip %px sp %px error %lx", task_pid_nr(tsk) > 1 ? KERN_INFO : KERN_EMERG, ...) + print_vma_addr(KERN_CONT " in ") (arch/x86/mm/fault.c show_signal_msg)',
    'python3[4242]: segfault at 0 ip 00007f3a1c2b4d10 sp 00007ffd5e6f7a80 error 4 in libc.so.6[7f3a1b000000+195000] likely on CPU 3 (core 3, socket 0)':
        'find_string on the format (kernel source copies, no tree named): show_signal_msg as above + printk(KERN_CONT " likely on CPU %d (core %d, socket %d)") (6.1+)',
    'systemd[1]: segfault at 0 ip 000055d1c2a3b4c5 sp 00007ffc1a2b3c40 error 4 in systemd[55d1c2a00000+e6000] likely on CPU 0 (core 0, socket 0)':
        'find_string on the format (kernel source copies, no tree named): show_signal_msg with the CPU, as above',
    'BUG: unable to handle kernel NULL pointer dereference at 0000000000000008':
        'find_string on the format (kernel source copies, no tree named): pr_alert("BUG: unable to handle kernel %s at %px\\n", address < PAGE_SIZE ? "NULL pointer dereference" : "paging request") (4.x arch/x86/mm/fault.c show_fault_oops)',
    'BUG: unable to handle kernel NULL pointer dereference at           (null)':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ALERT "BUG: unable to handle kernel "); printk(KERN_CONT "NULL pointer dereference"); printk(KERN_CONT " at %p\\n") (3.x show_fault_oops; old vsprintf prints NULL as a 16-wide "(null)")',
    'BUG: unable to handle kernel paging request at ffffc90000f3c000':
        'find_string on the format (kernel source copies, no tree named): show_fault_oops, both forms above ("paging request")',
    'BUG: kernel NULL pointer dereference, address: 0000000000000008':
        'find_string on the format (kernel source copies, no tree named): pr_alert("BUG: kernel NULL pointer dereference, address: %px\\n") (5.2+ show_fault_oops)',
    'BUG: unable to handle page fault for address: ffffc90000f3c000':
        'find_string on the format (kernel source copies, no tree named): pr_alert("BUG: unable to handle page fault for address: %px\\n") (5.2+ show_fault_oops)',
    'kernel BUG at fs/ext4/inode.c:2716!':
        'find_string on the format (kernel source copies, no tree named): pr_crit("kernel BUG at %s:%u!\\n", file, line) / printk(KERN_CRIT ...) (lib/bug.c report_bug; label corrected: was include/asm-generic/bug.h)',
    'Oops: 0002 [#1] SMP':
        'read in torvalds/linux@02ca752e arch/x86/kernel/dumpstack.c __die: printk(KERN_EMERG "%s: %04lx [#%d] ", str, err & 0xffff, ++die_counter); printk("SMP ") (the 2.6.3x-3.x form)',
    'Oops: 0002 [#1] SMP PTI':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_DEFAULT "%s: %04lx [#%d]%s%s%s%s%s\\n", ..., " SMP", ..., " PTI"/" NOPTI") (4.15+ dumpstack.c __die)',
    'Oops: 0000 [#1] PREEMPT SMP NOPTI':
        'find_string on the format (kernel source copies, no tree named): __die_header "%s: %04lx [#%d]%s%s%s%s%s\\n" with " PREEMPT", as above',
    'Oops: Oops: 0002 [#1] PREEMPT SMP PTI':
        'find_string on the format (kernel source copies, no tree named): the patch to __die_header: "Oops: %s: %04lx [#%d]%s%s%s%s%s\\n" (str is "Oops" for a page fault)',
    'Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI':
        'find_string on the format (kernel source copies, no tree named): "Oops: %s: ..." as above, str from exc_general_protection (torvalds/linux@00229a54 arch/x86/kernel/traps.c (pr_fmt KBUILD_MODNAME ": "))',
    'general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI':
        'read in torvalds/linux@00229a54 arch/x86/kernel/traps.c (pr_fmt KBUILD_MODNAME ": ") exc_general_protection: GPFSTR "general protection fault", snprintf(desc, GPFSTR ", %s 0x%lx", "probably for non-canonical address"), die_addr(desc, ...); header by find_string on the format (kernel source copies, no tree named): "%s: %04lx [#%d]%s%s%s%s%s\\n"',
    'general protection fault: 0000 [#1] SMP':
        'find_string on the format (kernel source copies, no tree named): die("general protection fault", regs, error_code) (3.x traps.c do_general_protection) with __die\'s "%s: %04lx [#%d] "',
    'Out of memory: Kill process 4242 (java) score 912 or sacrifice child':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c oom_kill_process: "%s: Kill process %d (%s) score %d or sacrifice child", message "Out of memory"',
    'Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c oom_kill_process: "Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB"',
    'Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB, shmem-rss:0kB':
        'find_string on the format (kernel source copies, no tree named): "Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB" (4.x oom_kill.c)',
    'Memory cgroup out of memory: Kill process 771 (postgres) score 1000 or sacrifice child':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c oom_kill_process format; the message "Memory cgroup out of memory" by find_string on the format (kernel source copies, no tree named): mem_cgroup_out_of_memory',
    'Out of memory (oom_kill_allocating_task): Kill process 9001 (stress) score 0 or sacrifice child':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c out_of_memory: message "Out of memory (oom_kill_allocating_task)"',
    'Out of memory: Killed process 4242 (java) total-vm:16434948kB, anon-rss:15012340kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:30100kB oom_score_adj:0':
        'read in gregkh/linux@0a09d56e mm/oom_kill.c __oom_kill_process: "%s: Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB, UID:%u pgtables:%lukB oom_score_adj:%hd"',
    'Memory cgroup out of memory: Killed process 771 (postgres) total-vm:2100000kB, anon-rss:1048000kB, file-rss:4kB, shmem-rss:0kB, UID:26 pgtables:2200kB oom_score_adj:0':
        "read in gregkh/linux@0a09d56e mm/oom_kill.c __oom_kill_process (same format; the memcg message is out_of_memory's, not read)",
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/c1,task=nginx,pid=512,uid=101':
        'read in gregkh/linux@0a09d56e mm/oom_kill.c dump_oom_summary: "oom-kill:constraint=%s,nodemask=%*pbl" ... ",task=%s,pid=%d,uid=%d" (the cpuset/memcg fields come from helpers not read)',
    'java invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c dump_header: "%s invoked oom-killer: gfp_mask=0x%x, order=%d, oom_score_adj=%hd"',
    'postgres invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0':
        'read in gregkh/linux@0a09d56e mm/oom_kill.c dump_header: "%s invoked oom-killer: gfp_mask=%#x(%pGg), order=%d, oom_score_adj=%hd"',
    'Task in /docker/3f2a killed as a result of limit of /docker/3f2a':
        'find_string on the format (kernel source copies, no tree named): "Task in %s killed as a result of limit of %s" (mm/memcontrol.c, 3.x)',
    'Memory failure: 0x2f3b71: already hardware poisoned':
        'find_string on the format (kernel source copies, no tree named): pr_err("Memory failure: %#lx: already hardware poisoned") (mm/memory-failure.c)',
    'EDAC sbridge MC0: HANDLING MCE MEMORY ERROR':
        'find_string on the format (kernel source copies, no tree named): sbridge_mc_printk(mci, KERN_DEBUG, "HANDLING MCE MEMORY ERROR") (drivers/edac/sb_edac.c; printed at debug level, before the CE/UE line it belongs to)',
    'NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python3, GPU has fallen off the bus.':
        'find_string on the format (kernel source copies, no tree named): nvErrorLog_va(..., ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS, "GPU has fallen off the bus.") (open-gpu-kernel-modules; the Xid prefix not read)',
    'NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.':
        'find_string on the format (kernel source copies, no tree named): NV_DEV_PRINTF(NV_DBG_ERRORS, nv, "GPU has fallen off the bus.\\n") (open-gpu-kernel-modules)',
    'print_req_error: critical medium error, dev sda, sector 13678456':
        'find_string on the format (kernel source copies, no tree named): blk_errors[] "critical medium" (block/blk-core.c, 4.13+) and "%s: %s error, dev %s, sector %llu"',
    'blk_update_request: critical medium error, dev sdb, sector 11842':
        'find_string on the format (kernel source copies, no tree named): blk_update_request: printk_ratelimited(KERN_ERR "%s: %s error, dev %s, sector %llu\\n", __func__, error_type, ...) with case -ENODATA: "critical medium" (corrected: was "end_request: critical medium")',
    'EXT4-fs (sda1): This should not happen!! Data will be lost':
        'find_string on the format (kernel source copies, no tree named): "This should not happen!! Data will be lost\\n" (fs/ext4/inode.c)',
    'EXT4-fs (sda1): Delayed block allocation failed for inode 131090 at logical offset 2048 with max blocks 16 with error 5':
        'find_string on the format (kernel source copies, no tree named): "Delayed block allocation failed for inode %lu at logical offset %llu with max blocks %u with error %d" (fs/ext4/inode.c)',
    'nvme nvme0: Abort status: 0x371':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->dev->ctrl.device, "Abort status: 0x%x", ...) (drivers/nvme/host/pci.c abort_endio)',
    'nvme nvme0: Removing after probe failure status: -19':
        'find_string on the format (kernel source copies, no tree named): dev_warn(dev->ctrl.device, "Removing after probe failure status: %d\\n", ...) (drivers/nvme/host/pci.c)',
    'INFO: rcu_sched_state detected stall on CPU 3 (t=15000 jiffies)':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "INFO: %s detected stall on CPU %d (t=%lu jiffies)\\n", rsp->name, ...) in print_cpu_stall (label corrected: was print_other_cpu_stall)',
    'Watchdog CPU:6 Hard LOCKUP':
        'find_string on the format (kernel source copies, no tree named): pr_emerg("Watchdog CPU:%d Hard LOCKUP\\n", ...) in wd_lockup_ipi (arch/powerpc/kernel/watchdog.c; label corrected: was "not located in a tree")',
    'Kernel panic - not syncing: Out of memory and no killable processes...':
        'read in AndreiLux/ref-3.10@0c51414c mm/oom_kill.c out_of_memory: panic("Out of memory and no killable processes...\\n")',
    'bond0: link status definitely down for interface eth1, disabling it':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s: link status definitely down for interface %s, disabling it\\n") / netdev_info (bond_main.c)',
    'bond0: (slave ens1f1): link status definitely down, disabling slave':
        'find_string on the format (kernel source copies, no tree named): slave_info(bond->dev, slave->dev, "link status definitely down, disabling slave\\n") (bond_main.c, the patch that replaced the line above)',
    'pcieport 0000:00:1c.0: AER: Correctable error message received from 0000:03:00.0':
        'read in gregkh/linux@05e1afc5 drivers/pci/pcie/aer.c aer_print_source: pci_info(dev, "%s%s error message received from %04x:%02x:%02x.%d%s\\n"), aer_error_severity_string[] "Correctable"',
    'pcieport 0000:00:03.0: AER: Uncorrectable (Non-Fatal) error message received from 0000:04:00.1':
        'read in gregkh/linux@05e1afc5 drivers/pci/pcie/aer.c aer_print_source ("Uncorrectable (Non-Fatal)")',
    'igb 0000:02:00.0: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Completer ID)':
        'read in gregkh/linux@05e1afc5 drivers/pci/pcie/aer.c aer_print_error: aer_printk(level, dev, "PCIe Bus Error: severity=%s, type=%s, (%s)\\n")',
    'pcieport 0000:00:03.0: AER: device recovery failed':
        'find_string on the format (kernel source copies, no tree named): pci_info(bridge, "device recovery failed\\n") (drivers/pci/pcie/err.c pcie_do_recovery)',
    'traps: java[4242] general protection fault ip:7f3a1c2b4d10 sp:7ffd5e6f7a80 error:0 in libjvm.so[7f3a1b000000+1200000]':
        'find_string on the format (kernel source copies, no tree named): show_signal: pr_info("%s[%d] %s%s ip:%lx sp:%lx error:%lx", comm, pid, "", "general protection fault") + " in " vma (arch/x86/kernel/traps.c, pr_fmt "traps: ")',
    'traps: a.out[777] trap divide error ip:401126 sp:7ffc0b8e1c40 error:0 in a.out[401000+1000]':
        'find_string on the format (kernel source copies, no tree named): show_signal with type "trap " and desc "divide error" (arch/x86/kernel/traps.c do_trap)',
    'traps: systemd[1] general protection fault ip:7f00aa11bb22 sp:7ffe33445566 error:0 in libc.so.6[7f00aa000000+195000]':
        'find_string on the format (kernel source copies, no tree named): show_signal (as above) for PID 1',
    'JBD2: Invalid checksum recovering block 1183 in log':
        'find_string on the format (kernel source copies, no tree named): pr_err("JBD2: Invalid checksum recovering block %lu in log\\n", next_log_block) (fs/jbd2/recovery.c do_one_pass)',
    'JBD2: Invalid checksum recovering data block 1183 in journal block 1190':
        'find_string on the format (kernel source copies, no tree named): pr_err("JBD2: Invalid checksum recovering data block %llu in journal block %lu\\n") (fs/jbd2/recovery.c jbd2_do_replay)',
    'nvme nvme0: I/O 731 QID 3 timeout, aborting':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->dev->ctrl.device, "I/O %d QID %d timeout, aborting\\n", req->tag, nvmeq->qid) (drivers/nvme/host/pci.c nvme_timeout)',
    'Memory failure: 0x2f3b71: recovery action for dirty LRU page: Recovered':
        'find_string on the format (kernel source copies, no tree named): pr_err("Memory failure: %#lx: recovery action for %s: %s\\n", pfn, action_page_types[type], action_name[result]) (mm/memory-failure.c action_result)',
    'Aborting journal on device dm-3-8.':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "Aborting journal on device %s.\\n", journal->j_devname) / pr_err (fs/jbd2/journal.c)',
    'nvme nvme1: frozen state error detected, reset controller':
        'find_string on the format (kernel source copies, no tree named): dev_warn(dev->ctrl.device, "frozen state error detected, reset controller\\n") (drivers/nvme/host/pci.c nvme_error_detected)',
    'nvme nvme0: Device not ready; aborting reset':
        'find_string on the format (kernel source copies, no tree named): dev_err(ctrl->device, "Device not ready; aborting %s\\n", enabled ? "initialisation" : "reset") (drivers/nvme/host/core.c nvme_wait_ready; label corrected: was pci.c nvme_reset_work)',
    'nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10':
        'find_string on the format (kernel source copies, no tree named): dev_warn(dev->ctrl.device, "controller is down; will reset: CSTS=0x%x, PCI_STATUS=0x%hx\\n") (drivers/nvme/host/pci.c nvme_warn_reset)',
    'JBD2: Invalid checksum recovering data block 1183 in log':
        'find_string on the format (kernel source copies, no tree named): pr_err("JBD2: Invalid checksum recovering data block %llu in log\\n") (fs/jbd2/recovery.c do_one_pass, in compiled copies of recovery.c)',
    'JBD2: journal transaction 4711 on sda1-8 is corrupt.':
        'find_string on the format (kernel source copies, no tree named): KERN_ERR "JBD2: journal transaction %u on %s is corrupt.\\n" (compiled copies of fs/jbd2/journal.c, beside "JBD2: journal recovery failed"; label corrected: was recovery.c do_one_pass)',
    'JBD2: journal recovery failed':
        'find_string on the format (kernel source copies, no tree named): KERN_WARNING "JBD2: journal recovery failed\\n" (compiled copies of fs/jbd2/journal.c)',
    'JBD2: Detected IO errors while flushing file data on dm-0-8':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_WARNING "JBD2: Detected IO errors while flushing file data on %s\\n", journal->j_devname) (fs/jbd2/commit.c jbd2_journal_commit_transaction)',
    'JBD2: Detected IO errors -5 while flushing file data on dm-0-8':
        'find_string on the format (kernel source copies, no tree named): "JBD2: Detected IO errors %d while flushing file data on %s\\n" (a fs/jbd2/commit.c patch that replaced the line above)',
    'JBD2: Error -5 detected when updating journal superblock for sdb1-8.':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "JBD2: Error %d detected when updating journal superblock for %s.\\n") (fs/jbd2/journal.c jbd2_write_superblock)',
    'JBD2: I/O error when updating journal superblock for sdb1-8.':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "JBD2: I/O error when updating journal superblock for %s.\\n") (the fs/jbd2/journal.c patch that replaced the line above; 3.x\'s "JBD2: I/O error detected when updating ..." is seen only in logs quoted by reports)',
    'XFS (dm-2): Metadata corruption detected at xfs_inode_buf_verify+0x14d/0x160 [xfs], xfs_inode block 0x1f40 xfs_inode_buf_verify':
        'find_string on the format (kernel source copies, no tree named): xfs_alert_tag(mp, XFS_PTAG_VERIFIER_ERROR, "Metadata %s detected at %pS, %s block 0x%llx %s", "CRC error" : "corruption", fa, bp->b_ops->name, ..., name) (fs/xfs/xfs_error.c xfs_buf_verifier_error)',
    'XFS (dm-2): Metadata corruption detected at xfs_dinode_verify+0xa5/0x5c0 [xfs], inode 0x4a9f dinode':
        'find_string on the format (kernel source copies, no tree named): "Metadata %s detected at %pS, inode 0x%llx %s" (xfs_inode_verifier_error, in a list of XFS printk formats posted to linux-xfs, 2022)',
    'XFS (sdb1): Metadata corruption detected at xfs_agf_read_verify+0x6a/0x110 [xfs], block 0x1':
        'find_string on the format (kernel source copies, no tree named): xfs_alert(mp, "Metadata %s detected at %pF, block 0x%llx", ...) (fs/xfs/xfs_error.c xfs_verifier_error before it named the buffer type; label corrected: was "3.10/4.18")',
    'XFS (sdb1): Metadata CRC error detected at xfs_agi_read_verify+0x9a/0xe0 [xfs], xfs_agi block 0x2':
        'read in torvalds/linux@00ed905a fs/xfs/xfs_error.c xfs_verifier_error: xfs_alert(mp, "Metadata %s detected at %pF, %s block 0x%llx", "CRC error" : "corruption", __return_address, bp->b_ops->name, bp->b_bn)',
    'XFS (dm-2): Corruption detected. Unmount and run xfs_repair':
        'read in torvalds/linux@00ed905a fs/xfs/xfs_error.c xfs_corruption_error: xfs_alert(mp, "Corruption detected. Unmount and run xfs_repair")',
    'XFS (dm-0): metadata I/O error in "xfs_trans_read_buf_map" at daddr 0x7a1200 len 8 error 5':
        'find_string on the format (kernel source copies, no tree named): "metadata I/O error in \\"%s\\" at daddr 0x%llx len %d error %d" (fs/xfs/xfs_buf.c xfs_buf_ioerror_alert, the patch that turned %s into %pS)',
    'XFS (dm-0): metadata I/O error in "xfs_trans_read_buf_map+0x1d6/0x390 [xfs]" at daddr 0x7a1200 len 8 error 5':
        'find_string on the format (kernel source copies, no tree named): xfs_buf_alert_ratelimited(bp, "XFS: metadata IO error", "metadata I/O error in \\"%pS\\" at daddr 0x%llx len %d error %d") (fs/xfs/xfs_buf.c xfs_buf_ioerror_alert)',
    'XFS (dm-0): metadata I/O error: block 0x7a1200 ("xfs_trans_read_buf_map") error 5 numblks 8':
        'find_string on the format (kernel source copies, no tree named): xfs_alert(bp->b_target->bt_mount, "metadata I/O error: block 0x%llx (\\"%s\\") error %d numblks %d") (fs/xfs/xfs_buf.c xfs_buf_ioerror_alert; before 3.7 "... buf count %zd")',
    'XFS (dm-0): Log I/O Error Detected.  Shutting down filesystem':
        'find_string on the format (kernel source copies, no tree named): xfs_alert_tag(mp, XFS_PTAG_SHUTDOWN_LOGERROR, "Log I/O Error Detected.  Shutting down filesystem") (fs/xfs/xfs_fsops.c xfs_do_force_shutdown; corrected: the kernel puts two spaces after the full stop)',
    'XFS (dm-0): I/O Error Detected. Shutting down filesystem':
        'read in torvalds/linux@010e85f9 fs/xfs/xfs_fsops.c xfs_do_force_shutdown: xfs_alert_tag(mp, XFS_PTAG_SHUTDOWN_IOERROR, "I/O Error Detected. Shutting down filesystem")',
    'XFS (dm-0): Corruption of in-memory data detected.  Shutting down filesystem':
        'read in torvalds/linux@010e85f9 fs/xfs/xfs_fsops.c xfs_do_force_shutdown: xfs_alert_tag(mp, XFS_PTAG_SHUTDOWN_CORRUPT, "Corruption of in-memory data detected.  Shutting down filesystem") (two spaces here in every version)',
    'XFS (dm-0): I/O error (0x1) detected at xfs_trans_read_buf_map+0x1d6/0x390 [xfs] (fs/xfs/xfs_trans_buf.c:296). Shutting down filesystem':
        'find_string on the format (kernel source copies, no tree named): "I/O error (0x%x) detected at %pS (%s:%d). Shutting down filesystem" (fs/xfs/xfs_fsops.c xfs_do_force_shutdown, the lines the 5.17 rework removed)',
    'XFS (dm-0): Log I/O Error (0x2) detected at xlog_ioend_work+0x6e/0x70 [xfs] (fs/xfs/xfs_log.c:1376).  Shutting down filesystem.':
        'find_string on the format (kernel source copies, no tree named): xfs_alert_tag(mp, tag, "%s (0x%x) detected at %pS (%s:%d).  Shutting down filesystem.", why, ...) with why "Log I/O Error" (fs/xfs/xfs_fsops.c xfs_do_force_shutdown)',
    'XFS (sdb1): Corruption of on-disk metadata (0x8) detected at xfs_trans_cancel+0x11e/0x140 [xfs] (fs/xfs/xfs_trans.c:1098).  Shutting down filesystem.':
        'find_string on the format (kernel source copies, no tree named): the same format with why "Corruption of on-disk metadata" (fs/xfs/xfs_fsops.c xfs_do_force_shutdown)',
    'XFS (dm-0): Please umount the filesystem and rectify the problem(s)':
        'find_string on the format (kernel source copies, no tree named): xfs_alert(mp, "Please umount the filesystem and rectify the problem(s)") (fs/xfs/xfs_fsops.c xfs_do_force_shutdown, before "unmount")',
    'XFS (dm-0): Please unmount the filesystem and rectify the problem(s)':
        'read in torvalds/linux@010e85f9 fs/xfs/xfs_fsops.c xfs_do_force_shutdown: xfs_alert(mp, "Please unmount the filesystem and rectify the problem(s)")',
    'BTRFS: error (device sda2) in __btrfs_free_extent:3072: errno=-2 No such entry':
        'find_string on the format (kernel source copies, no tree named): pr_crit("BTRFS: error (device %s) in %s:%d: errno=%d %s\\n", sb->s_id, function, line, errno, errstr) (fs/btrfs/super.c __btrfs_handle_fs_error)',
    'BTRFS: error (device sda2: state A) in btrfs_run_delayed_refs:2150: errno=-28 No space left':
        'find_string on the format (kernel source copies, no tree named): pr_crit("BTRFS: error (device %s%s) in %s:%d: errno=%d %s\\n", sb->s_id, statestr, ...) with #define STATE_STRING_PREFACE ": state " (fs/btrfs/super.c, later messages.c)',
    'BTRFS: error (device nvme0n1p3 state EA) in btrfs_run_delayed_refs:2150: errno=-28 No space left':
        'read in torvalds/linux@01c8634c fs/btrfs/messages.c __btrfs_handle_fs_error: pr_crit("BTRFS: error (device %s%s) in %s:%d: errno=%d %s\\n", sb->s_id, statestr, ...), #define STATE_STRING_PREFACE " state ", \'E\' for an error and \'A\' for an aborted transaction, btrfs_decode_error(-ENOSPC) "No space left"',
    'BTRFS error (device sda2) in btrfs_commit_transaction:1808: errno=-5 IO failure':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_CRIT "BTRFS error (device %s) in %s:%d: errno=%d %s\\n") (fs/btrfs/super.c __btrfs_std_error, 3.x)',
    'BTRFS critical (device sdc1): corrupt leaf: root=2 block=30867456 slot=12, invalid key objectid':
        'find_string on the format (kernel source copies, no tree named): btrfs_crit(fs_info, "corrupt %s: root=%llu block=%llu slot=%d, %pV", "leaf" : "node", ...) (fs/btrfs/tree-checker.c generic_err); the "BTRFS critical (device ...)" prefix read in torvalds/linux@01c8634c fs/btrfs/messages.c _btrfs_printk',
    'BTRFS warning (device sdc1): csum failed root 5 ino 2571 off 65536 csum 0x8941f998 expected csum 0x3bd6a2f5 mirror 1':
        'find_string on the format (kernel source copies, no tree named): btrfs_warn_rl(fs_info, "csum failed root %lld ino %llu off %llu csum " CSUM_FMT " expected csum " CSUM_FMT " mirror %d") (fs/btrfs/inode.c)',
    'BTRFS info (device sda2): forced readonly':
        'read in torvalds/linux@01c8634c fs/btrfs/messages.c __btrfs_handle_fs_error: btrfs_info(fs_info, "forced readonly"), printed by _btrfs_printk as "BTRFS %s (device %s%s): %pV" (the state string is empty when no state is set)',
    'BTRFS warning (device sda2): Skipping commit of aborted transaction.':
        'find_string on the format (kernel source copies, no tree named): btrfs_warn(root->fs_info, "Skipping commit of aborted transaction.") (fs/btrfs/transaction.c btrfs_commit_transaction)',
    'BTRFS warning (device sdc1: state EA): Skipping commit of aborted transaction.':
        'find_string on the format (kernel source copies, no tree named): the same btrfs_warn, with btrfs_printk\'s state string (STATE_STRING_PREFACE ": state ")',
    'XFS (sdb1): Unmount and run xfs_repair':
        'read in torvalds/linux@00ed905a fs/xfs/xfs_error.c xfs_verifier_error: xfs_alert(mp, "Unmount and run xfs_repair")',
    'XFS (sdb1): First 128 bytes of corrupted metadata buffer:':
        'find_string on the format (kernel source copies, no tree named): xfs_alert(mp, "First %d bytes of corrupted metadata buffer:", sz) (fs/xfs/xfs_error.c; 4.x printed "First 64 bytes ...")',
    'BTRFS: Transaction aborted (error -28)':
        'find_string on the format (kernel source copies, no tree named): WARN(1, KERN_DEBUG "BTRFS: Transaction aborted (error %d)\\n", errno) in btrfs_abort_transaction (fs/btrfs/ctree.h, later transaction.h)',
    'btrfs: Transaction aborted (error -28)':
        'find_string on the format (kernel source copies, no tree named): WARN(1, KERN_DEBUG "btrfs: Transaction aborted (error %d)\\n", errno) (fs/btrfs/super.c __btrfs_abort_transaction, 3.x)',
    'blk_update_request: critical target error, dev sdc, sector 1024 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0':
        'find_string on the format (kernel source copies, no tree named): printk_ratelimited(KERN_ERR "%s: %s error, dev %s, sector %llu op 0x%x:(%s) flags 0x%x phys_seg %u prio class %u\\n", caller, blk_errors[idx].name, ...) (block/blk-core.c print_req_error)',
    'critical medium error, dev nvme0n1, sector 3467712 op 0x0:(READ) flags 0x80700 phys_seg 4 prio class 2':
        'find_string on the format (kernel source copies, no tree named): "%s error, dev %s, sector %llu op 0x%x:(%s) flags 0x%x phys_seg %u prio class %u\\n", blk_status_to_str(status), ... (block/blk-mq.c blk_print_req_error)',
    'I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2':
        'find_string on the format (kernel source copies, no tree named): the same blk_print_req_error format (block/blk-mq.c), kind "I/O" (blk_errors[BLK_STS_IOERR])',
    'nvme0n1: Read(0x2) @ LBA 3467712, 64 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR':
        'find_string on the format (kernel source copies, no tree named): pr_err_ratelimited("%s: %s(0x%x) @ LBA %llu, %u blocks, %s (sct 0x%x / sc 0x%x) %s%s\\n") (drivers/nvme/host/core.c nvme_log_error)',
    'nvme1n1: I/O Cmd(0x1) @ LBA 1024, 8 blocks, I/O Error (sct 0x3 / sc 0x71) MORE':
        'find_string on the format (kernel source copies, no tree named): the nvme_log_error format with nvme.h\'s stubs without CONFIG_NVME_VERBOSE_ERRORS: nvme_get_opcode_str() "I/O Cmd", nvme_get_error_status_str() "I/O Error" (label corrected: a config, not the 5.19-6.0 kernels)',
    'sd 2:0:0:0: [sdb] tag#21 Sense Key : Medium Error [current]':
        'find_string on the format (kernel source copies, no tree named): scnprintf(buffer, buf_len, "Sense Key : "), "%s ", "[current] " (drivers/scsi/scsi_logging.c scsi_format_sense_hdr)',
    'sd 2:0:0:0: [sdb] Sense Key : Medium Error [current] [descriptor]':
        'find_string on the format (kernel source copies, no tree named): sdev_prefix_printk(KERN_INFO, sdev, name, "Sense Key : %s [%s]%s\\n", ..., " [descriptor]") (drivers/scsi/constants.c scsi_show_sense_hdr; label corrected: 3.19-4.0, not 3.10)',
    'sd 2:0:0:0: [sdb]  Sense Key : Medium Error [current] [descriptor]':
        'find_string on the format (kernel source copies, no tree named): sd_print_sense_hdr: sd_printk(KERN_INFO, sdkp, " "); scsi_show_sense_hdr(sshdr) with printk("Sense Key : %s ", ...), "[current] ", "[descriptor]" (drivers/scsi/sd.c + constants.c, 3.10): sd_printk\'s "[sdb] " and the " " make two spaces',
    'XFS (dm-0): xfs_imap_to_bp: xfs_trans_read_buf() returned error -117.':
        'find_string on the format (kernel source copies, no tree named): xfs_warn(mp, "%s: xfs_trans_read_buf() returned error %d.", __func__, error) (fs/xfs/libxfs/xfs_inode_buf.c xfs_imap_to_bp)',
    'ata3.00: error: { UNC }':
        'find_string on the format (kernel source copies, no tree named): ata_dev_err(qc->dev, "error: { %s%s%s%s%s}\\n", "ICRC ", "UNC ", "AMNF ", "IDNF ", "ABRT ") (drivers/ata/libata-eh.c ata_eh_link_report)',
    'ata3.00: exception Emask 0x0 SAct 0x40000 SErr 0x0 action 0x0':
        'find_string on the format (kernel source copies, no tree named): "ata%u.%02u: exception Emask 0x%x SAct 0x%x SErr 0x%x action 0x%x%s%s" (compiled copies of drivers/ata/libata-eh.c ata_eh_link_report)',
    'ata1.00: error: { ICRC ABRT }':
        'find_string on the format (kernel source copies, no tree named): the same ata_eh_link_report format (drivers/ata/libata-eh.c)',
    'EXT4-fs warning (device sdb1): ext4_end_bio:287: I/O error writing to inode 2883604 (offset 0 size 4096 starting block 11534356)':
        'find_string on the format (kernel source copies, no tree named): ext4_warning(inode->i_sb, "I/O error writing to inode %lu (offset %llu size %ld starting block %llu)") (fs/ext4/page-io.c ext4_end_bio, 3.x)',
    'EXT4-fs warning (device sdb1): ext4_end_bio:323: I/O error 10 writing to inode 2883604 (offset 0 size 4096 starting block 11534356)':
        'find_string on the format (kernel source copies, no tree named): ext4_warning(..., "I/O error %d writing to inode %lu (offset %llu size %ld starting block %llu)", bio->bi_status, ...) (fs/ext4/page-io.c ext4_end_bio; the patch that dropped offset and size; label corrected: 4.x-5.4, not 4.18+)',
    'EXT4-fs warning (device sdb1): ext4_end_bio:343: I/O error 10 writing to inode 2883604 starting block 11534356)':
        'find_string on the format (kernel source copies, no tree named): ext4_warning(inode->i_sb, "I/O error %d writing to inode %lu starting block %llu)", bio->bi_status, ...) (fs/ext4/page-io.c ext4_end_bio)',
    'EXT4-fs error (device dm-1): ext4_journal_check_start:83: comm rsync: Detected aborted journal':
        'find_string on the format (kernel source copies, no tree named): ext4_abort(sb, -journal->j_errno, "Detected aborted journal") (fs/ext4/ext4_jbd2.c) printed by __ext4_error: printk(KERN_CRIT "EXT4-fs error (device %s): %s:%d: comm %s: %pV\\n") (label corrected: 5.10+, where ext4_abort became __ext4_error)',
    'EXT4-fs error (device dm-1): ext4_journal_check_start:61: Detected aborted journal':
        'find_string on the format (kernel source copies, no tree named): ext4_abort(sb, "Detected aborted journal") printed by __ext4_abort: printk(KERN_CRIT "EXT4-fs error (device %s): %s:%d: %pV\\n") (fs/ext4/super.c, 4.x: no comm)',
    'EXT4-fs (dm-1): Remounting filesystem read-only':
        'find_string on the format (kernel source copies, no tree named): ext4_msg(sb, KERN_CRIT, "Remounting filesystem read-only") in __ext4_abort, with __ext4_msg\'s printk("%sEXT4-fs (%s): %pV\\n") (fs/ext4/super.c)',
    'nvme nvme0: I/O 12 QID 0 timeout, reset controller':
        'read in torvalds/linux@e3ea126c drivers/nvme/host/pci.c nvme_timeout: dev_warn(dev->ctrl.device, "I/O %d QID %d timeout, reset controller\\n", req->tag, nvmeq->qid)',
    'nvme nvme0: I/O 24 QID 0 timeout, disable controller':
        'read in torvalds/linux@e3ea126c drivers/nvme/host/pci.c nvme_timeout (NVME_CTRL_CONNECTING / DELETING): dev_warn_ratelimited(dev->ctrl.device, "I/O %d QID %d timeout, disable controller\\n")',
    'nvme nvme0: I/O 731 QID 3 timeout, completion polled':
        'read in torvalds/linux@e3ea126c drivers/nvme/host/pci.c nvme_timeout (blk_mq_request_completed after polling): dev_warn(dev->ctrl.device, "I/O %d QID %d timeout, completion polled\\n")',
    'nvme nvme1: I/O tag 731 (02db) opcode 0x2 (Read) QID 3 timeout, aborting req_op:READ(0) size:131072':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->dev->ctrl.device, "I/O tag %d (%04x) opcode %#x (%s) QID %d timeout, aborting req_op:%s(%u) size:%u\\n") (drivers/nvme/host/pci.c nvme_timeout; the one copy found is a vendor fork of 6.6+)',
    'nvme nvme1: I/O tag 12 (000c) opcode 0x6 (Admin Cmd) QID 0 timeout, reset controller':
        'find_string on the format (kernel source copies, no tree named): dev_warn(dev->ctrl.device, "I/O tag %d (%04x) opcode %#x (%s) QID %d timeout, reset controller\\n", req->tag, nvme_cid(req), opcode, nvme_opcode_str(nvmeq->qid, opcode), nvmeq->qid) (drivers/nvme/host/pci.c nvme_timeout, 6.6+); "Admin Cmd" is nvme_get_admin_opcode_str without CONFIG_NVME_VERBOSE_ERRORS',
    'nvme nvme0: resetting controller due to AER':
        'find_string on the format (kernel source copies, no tree named): dev_warn(ctrl->device, "resetting controller due to AER\\n") (drivers/nvme/host/core.c nvme_handle_aer_persistent_error, in patches only; corrected: was "... due to persistent internal error", a wording found in no stored kernel source)',
    'nvme nvme0: Device not ready; aborting reset, CSTS=0x1':
        'find_string on the format (kernel source copies, no tree named): dev_err(ctrl->device, "Device not ready; aborting %s, CSTS=0x%x\\n", enabled ? "initialisation" : "reset", csts) (drivers/nvme/host/core.c nvme_wait_ready; label corrected: was pci.c nvme_pci_enable, which read in torvalds/linux@e3ea126c prints no such line)',
    'nvme nvme2: Device not ready; aborting initialisation, CSTS=0x0':
        'find_string on the format (kernel source copies, no tree named): the same nvme_wait_ready format (drivers/nvme/host/core.c)',
    'nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS read failed (134)':
        'read in torvalds/linux@e3ea126c drivers/nvme/host/pci.c nvme_warn_reset: dev_warn(dev->ctrl.device, "controller is down; will reset: CSTS=0x%x, PCI_STATUS read failed (%d)\\n", csts, result)',
    'nvme0n1: detected capacity change from 1000204886016 to 0':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s: detected capacity change from %lld to %lld\\n", disk->disk_name, capacity, size) (block/genhd.c set_capacity_and_notify) and printk(KERN_INFO "%s: detected capacity change from %lld to %lld\\n") (fs/block_dev.c check_disk_size_change)',
    'bond1: now running without any active interface!':
        'find_string on the format (kernel source copies, no tree named): netdev_info(bond->dev, "now running without any active interface!\\n") (drivers/net/bonding/bond_main.c bond_select_active_slave)',
    'e1000e: eth0 NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s NIC Link is Down\\n", netdev->name) (drivers/net/ethernet/intel/e1000e/netdev.c, the patch that turned it into netdev_info); the "e1000e: " prefix is the driver\'s pr_fmt, not read',
    'e1000e 0000:00:1f.6 eno1: NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): netdev_info(netdev, "NIC Link is Down\\n") (drivers/net/ethernet/intel/e1000e/netdev.c e1000e_close and the watchdog, after that patch)',
    'igb 0000:01:00.0 eno1: igb: eno1 NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): netdev_info(netdev, "igb: %s NIC Link is Down\\n", netdev->name) (drivers/net/ethernet/intel/igb/igb_main.c igb_watchdog_task)',
    'igb: eth2 NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_INFO "igb: %s NIC Link is Down\\n", netdev->name) (igb_main.c igb_watchdog_task, older)',
    'ixgbe 0000:03:00.0 eth2: NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): e_info(drv, "NIC Link is Down\\n") (drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_watchdog_link_is_down; e_info is netif_info on the netdev)',
    'i40e 0000:3b:00.0 eno1: NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): netdev_info(vsi->netdev, "NIC Link is Down\\n") (drivers/net/ethernet/intel/i40e/i40e_main.c i40e_print_link_message; ice the same)',
    'mlx5_core 0000:5e:00.0 ens1f0np0: Link down':
        'find_string on the format (kernel source copies, no tree named): netdev_info(priv->netdev, "Link down\\n") (drivers/net/ethernet/mellanox/mlx5/core/en_main.c mlx5e_update_carrier)',
    'bnxt_en 0000:3b:00.0 eno1np0: NIC Link is Down':
        'find_string on the format (kernel source copies, no tree named): netdev_err(bp->dev, "NIC Link is Down\\n") (drivers/net/ethernet/broadcom/bnxt/bnxt.c bnxt_report_link, printed at err; bnx2x the same)',
    'r8169 0000:02:00.0 enp2s0: Link is Down':
        'find_string on the format (kernel source copies, no tree named): netdev_info(phydev->attached_dev, "Link is Down\\n") (drivers/net/phy/phy.c phy_print_status); that r8169 reports through it was not read',
    'r8169 0000:02:00.0 eth0: link down':
        'find_string on the format (kernel source copies, no tree named): netif_info(tp, ifdown, dev, "link down\\n") (drivers/net/ethernet/realtek/r8169.c __rtl8169_check_link_status)',
    'tg3 0000:02:00.0 eth0: Link is down':
        'find_string on the format (kernel source copies, no tree named): netif_info(tp, link, tp->dev, "Link is down\\n") (drivers/net/ethernet/broadcom/tg3.c tg3_link_report)',
    'pcieport 0000:00:1c.0: AER: Multiple Corrected error message received from 0000:03:00.0':
        'find_string on the format (kernel source copies, no tree named): pci_info(dev, "%s%s error message received from %04x:%02x:%02x.%d\\n", "Multiple " : "", aer_error_severity_string[...]) (the drivers/pci/pcie/aer.c patch that replaced "error received: "; the era\'s severity strings not read)',
    'pcieport 0000:00:03.0: AER: Uncorrected (Fatal) error message received from 0000:04:00.0':
        'find_string on the format (kernel source copies, no tree named): the same aer_print_port_info format (drivers/pci/pcie/aer.c)',
    'pcieport 0000:00:1c.0: AER: Corrected error received: 0000:03:00.0':
        'read in torvalds/linux@02a06f5f drivers/pci/pcie/aer.c (6.7-6.12 era) aer_print_port_info: pci_info(dev, "%s%s error received: %04x:%02x:%02x.%d\\n", "Multiple " : "", aer_error_severity_string[info->severity], ...) (the severity strings of that tree not read)',
    'pcieport 0000:00:03.0: AER: Multiple Uncorrected (Non-Fatal) error received: 0000:04:00.0':
        'read in torvalds/linux@02a06f5f drivers/pci/pcie/aer.c (6.7-6.12 era) aer_print_port_info (as above, with "Multiple ")',
    'pcieport 0000:00:03.0: AER: Uncorrected (Non-Fatal) error received: id=0400':
        'find_string on the format (kernel source copies, no tree named): dev_info(&dev->dev, "AER: %s%s error received: id=%04x\\n") (drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_port_info)',
    'pcieport 0000:00:1c.0: AER: Multiple Corrected error received: id=00e0':
        'find_string on the format (kernel source copies, no tree named): the same aerdrv_errprint.c format with "Multiple "',
    'pcieport 0000:00:1c.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00e0(Receiver ID)':
        'find_string on the format (kernel source copies, no tree named): dev_err(&dev->dev, "PCIe Bus Error: severity=%s, type=%s, id=%04x(%s)\\n") (drivers/pci/pcie/aer/aerdrv_errprint.c aer_print_error)',
    'pcieport 0000:00:1c.0: PCIe Bus Error: severity=Corrected, type=Unaccessible, id=00e0(Unregistered Agent ID)':
        'find_string on the format (kernel source copies, no tree named): dev_err(&dev->dev, "PCIe Bus Error: severity=%s, type=Unaccessible, id=%04x(Unregistered Agent ID)\\n") (aerdrv_errprint.c aer_print_error)',
    'pcieport 0000:00:1c.0: AER: PCIe Bus Error: severity=Corrected, type=Data Link Layer, (Transmitter ID)':
        'find_string on the format (kernel source copies, no tree named): pci_err(dev, "PCIe Bus Error: severity=%s, type=%s, (%s)\\n") (drivers/pci/pcie/aer.c aer_print_error, before pci_printk by level; dev_fmt "AER: ")',
    'mlx5_core 0000:5e:00.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Requester ID)':
        'read in torvalds/linux@02a06f5f drivers/pci/pcie/aer.c (6.7-6.12 era) aer_print_error: pci_printk(level, dev, "PCIe Bus Error: severity=%s, type=%s, (%s)\\n", ...) (pci_printk is dev_printk: no "AER: " prefix)',
    'cxl_pci 0000:0d:00.0: CXL Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Requester ID)':
        'find_string on the format (kernel source copies, no tree named): aer_printk(level, dev, "%s Bus Error: severity=%s, type=%s, (%s)\\n", bus_type, ...) (the drivers/pci/pcie/aer.c patch for CXL devices)',
    'pcieport 0000:00:01.0: AER: subordinate device reset failed':
        'find_string on the format (kernel source copies, no tree named): pci_warn(bridge, "subordinate device reset failed\\n") (drivers/pci/pcie/err.c pcie_do_recovery)',
    'pcieport 0000:00:01.0: AER: link reset failed':
        'find_string on the format (kernel source copies, no tree named): pci_warn(dev, "link reset failed\\n") (drivers/pci/pcie/err.c pcie_do_recovery, the line "subordinate device reset failed" replaced)',
    'pcieport 0000:00:03.0: AER: Device recovery failed':
        'read in torvalds/linux@01daacfb drivers/pci/pcie/err.c pcie_do_recovery: pci_info(dev, "AER: Device recovery failed\\n"); 3.10\'s aerdrv_core.c do_recovery: dev_info(&dev->dev, "AER: Device recovery failed\\n") by find_string on the format',
    'end_request: I/O error, dev sdc, sector 730081839':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ERR "end_request: %s error, dev %s, sector %llu\\n", error_type, ...) with error_type "recoverable transport" / "critical target" / "critical nexus" / "I/O" (block/blk-core.c blk_update_request, 3.x)',
    'end_request: critical target error, dev sdb, sector 2048':
        'find_string on the format (kernel source copies, no tree named): the same end_request format, error_type "critical target" for -EREMOTEIO (block/blk-core.c, 3.x)',
    'Buffer I/O error on dev sdb1, logical block 10917840, lost async page write':
        'find_string on the format (kernel source copies, no tree named): printk_ratelimited(KERN_ERR "Buffer I/O error on dev %pg, logical block %llu%s\\n", bh->b_bdev, ..., msg) with msg ", lost async page write" (fs/buffer.c buffer_io_error, compiled copies)',
    'sd 0:0:0:0: [sda] tag#0 Sense Key : Hardware Error [current]':
        'find_string on the format (kernel source copies, no tree named): the scsi_format_sense_hdr format above (drivers/scsi/scsi_logging.c); "Hardware Error" is a sense key name of scsi_sense_key_string(), not read',
    'nvme nvme0: Disabling device after reset failure: -19':
        'find_string on the format (kernel source copies, no tree named): dev_warn(dev->ctrl.device, "Disabling device after reset failure: %d\\n", result) (drivers/nvme/host/pci.c nvme_reset_work)',
    'BTRFS warning (device sda2): sda2 checksum verify failed on 30408704 wanted C2CC51CB found CCF180A7 level 0':
        'find_string on the format (kernel source copies, no tree named): btrfs_warn_rl(fs_info, "%s checksum verify failed on %llu wanted %X found %X level %d", fs_info->sb->s_id, ...) (fs/btrfs/disk-io.c csum_tree_block)',
    'EXT4-fs (dm-0): failed to convert unwritten extents to written extents -- potential data loss!  (inode 13, error -30)':
        'find_string on the format (kernel source copies, no tree named): "failed to convert unwritten extents to written extents -- potential data loss!  (inode %lu, error %d)" (compiled copies of fs/ext4/page-io.c, printk index)',
    'ata3.00: disabled':
        'find_string on the format (kernel source copies, no tree named): if (ata_msg_drv(dev->link->ap)) ata_dev_warn(dev, "disabled\\n") (drivers/ata/libata-eh.c ata_dev_disable, the lines the patch below replaced)',
    'ata3.00: disable device':
        'find_string on the format (kernel source copies, no tree named): ata_dev_warn(dev, "disable device\\n") (drivers/ata/libata-eh.c ata_dev_disable)',
    'md/raid1:md0: Disk failure on sdb1, disabling device.':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_ALERT "md/raid1:%s: Disk failure on %s, disabling device.\\n" "md/raid1:%s: Operation continuing on %d devices.\\n") / pr_crit (drivers/md/raid1.c raid1_error)',
    'md/raid:md127: Disk failure on sdc, disabling device.':
        'find_string on the format (kernel source copies, no tree named): pr_crit("md/raid:%s: Disk failure on %s, disabling device.\\n" "md/raid:%s: Operation continuing on %d devices.\\n") (drivers/md/raid5.c raid5_error)',
    'md/raid10:md2: Disk failure on nvme1n1p2, disabling device.':
        'find_string on the format (kernel source copies, no tree named): pr_crit("md/raid10:%s: Disk failure on %s, disabling device.\\n" ...) (drivers/md/raid10.c raid10_error)',
    'device-mapper: multipath: Failing path 8:32.':
        'find_string on the format (kernel source copies, no tree named): DMWARN("Failing path %s.", pgpath->path.dev->name) (drivers/md/dm-mpath.c fail_path; DMWARN prints "device-mapper: multipath: ", not read)',
    'device-mapper: multipath: 253:3: Failing path 8:32.':
        'find_string on the format (kernel source copies, no tree named): DMWARN("%s: Failing path %s.", dm_table_device_name(m->ti->table), pgpath->path.dev->name) (drivers/md/dm-mpath.c fail_path)',
    'NETDEV WATCHDOG: eth0 (e1000e): transmit queue 0 timed out':
        'read in torvalds/linux@021a17ed net/sched/sch_generic.c dev_watchdog: WARN_ONCE(1, KERN_INFO "NETDEV WATCHDOG: %s (%s): transmit queue %u timed out\\n", dev->name, netdev_drivername(dev), i)',
    'NETDEV WATCHDOG: eno1 (ixgbe): transmit queue 3 timed out 5376 ms':
        'find_string on the format (kernel source copies, no tree named): WARN_ONCE(1, "NETDEV WATCHDOG: %s (%s): transmit queue %u timed out %u ms\\n") (net/sched/sch_generic.c dev_watchdog, the lines the patch below replaced)',
    'e1000e 0000:00:1f.6 eno1: NETDEV WATCHDOG: CPU: 3: transmit queue 0 timed out 5376 ms':
        'find_string on the format (kernel source copies, no tree named): netdev_crit(dev, "NETDEV WATCHDOG: CPU: %d: transmit queue %u timed out %u ms\\n") (a net/sched/sch_generic.c patch)',
    'igb 0000:01:00.0 eno1: The network adapter was stopped because it overheated':
        'find_string on the format (kernel source copies, no tree named): netdev_err(netdev, "The network adapter was stopped because it overheated\\n") (drivers/net/ethernet/intel/igb/igb_main.c igb_watchdog_task)',
    'ixgbe 0000:03:00.0 eth2: Network adapter has been stopped because it has over heated. Restart the computer. If the problem persists, power off the system and replace the adapter':
        'find_string on the format (kernel source copies, no tree named): e_crit(drv, "Network adapter has been stopped because it has over heated. Restart the computer. If the problem persists, power off the system and replace the adapter\\n") (drivers/net/ethernet/intel/ixgbe/ixgbe_main.c)',
    'pcieport 0000:00:01.4: DPC: containment event, status:0x1f01 source:0x0000':
        'read in torvalds/linux@0a5a46a6 drivers/pci/pcie/dpc.c dpc_process_error: pci_info(pdev, "containment event, status:%#06x source:%#06x\\n", status, source) (the "DPC: " prefix is the file\'s dev_fmt, not in the part read)',
    'dpc 0000:00:01.4:pcie010: DPC containment event, status:0x1f01 source:0x0000':
        'find_string on the format (kernel source copies, no tree named): dev_info(dev, "DPC containment event, status:%#06x source:%#06x\\n") on the port service device (drivers/pci/pcie/dpc.c, the lines the patch to pci_info replaced; the service device\'s name not read)',
    'pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)':
        'read in torvalds/linux@02a06f5f drivers/pci/pcie/aer.c (6.7-6.12 era) aer_print_error: pci_printk(level, dev, "PCIe Bus Error: severity=%s, type=%s, (%s)\\n", ...), level KERN_WARNING for correctable',
    'pcieport 0000:00:1c.0: AER: PCIe Bus Error: severity=Corrected, type=Inaccessible, (Unregistered Agent ID)':
        'read in torvalds/linux@02a06f5f drivers/pci/pcie/aer.c (6.7-6.12 era) aer_print_error: pci_err(dev, "PCIe Bus Error: severity=%s, type=Inaccessible, (Unregistered Agent ID)\\n") (pci_err applies aer.c\'s dev_fmt "AER: ")',
    'nvme 0000:01:00.0: Aborting I/O 731 QID 3':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->q_dmadev, "Aborting I/O %d QID %d\\n", cmdid, nvmeq->qid) (drivers/block/nvme-core.c nvme_abort_cmd, and nvme_abort_req in the blk-mq version; q_dmadev is the PCI device)',
    'nvme 0000:01:00.0: Timeout I/O 731 QID 3':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->q_dmadev, "Timeout I/O %d QID %d\\n", req->tag, nvmeq->qid) (drivers/block/nvme-core.c nvme_timeout, blk-mq version)',
    'nvme 0000:01:00.0: Cancelling I/O 731 QID 3':
        'find_string on the format (kernel source copies, no tree named): dev_warn(nvmeq->q_dmadev, "Cancelling I/O %d QID %d\\n", ...) (drivers/block/nvme-core.c nvme_cancel_ios / nvme_cancel_queue_ios)',
    'nvme 0000:01:00.0: I/O 12 QID 0 timeout, reset controller':
        'find_string on the format (kernel source copies, no tree named): dev_warn(&dev->pci_dev->dev, "I/O %d QID %d timeout, reset controller\\n", req->tag, nvmeq->qid) (the nvme_timeout of the version that still printed on the PCI device)',
    'nvme 0000:01:00.0: Device not ready; aborting reset':
        'read in torvalds/linux@00236b01 drivers/nvme/host/pci.c nvme_wait_ready: dev_err(dev->dev, "Device not ready; aborting %s\\n", enabled ? "initialisation" : "reset") (dev->dev is the PCI device)',
    'end_request: recoverable transport error, dev sdc, sector 2048':
        'find_string on the format (kernel source copies, no tree named): the end_request format above with error_type "recoverable transport" for -ENOLINK (block/blk-core.c blk_update_request, 3.x)',
    'XFS (sdb1): First 64 bytes of corrupted metadata buffer:':
        'read in torvalds/linux@00ed905a fs/xfs/xfs_error.c xfs_verifier_error: xfs_alert(mp, "First 64 bytes of corrupted metadata buffer:")',
    'XFS (dm-0): Log I/O Error Detected. Shutting down filesystem':
        'read in torvalds/linux@010e85f9 fs/xfs/xfs_fsops.c xfs_do_force_shutdown: xfs_alert_tag(mp, XFS_PTAG_SHUTDOWN_LOGERROR, "Log I/O Error Detected. Shutting down filesystem") (one space; 3.x-4.x put two)',
    'XFS (dm-0): All device paths lost. Shutting down filesystem':
        'read in torvalds/linux@010e85f9 fs/xfs/xfs_fsops.c xfs_do_force_shutdown: xfs_alert_tag(mp, XFS_PTAG_SHUTDOWN_IOERROR, "All device paths lost. Shutting down filesystem")',
    "nvme 0000:04:00.0: AER: Can't recover (no error_detected callback)":
        'read in torvalds/linux@01daacfb drivers/pci/pcie/err.c report_error_detected: pci_info(dev, "AER: Can\'t recover (no error_detected callback)\\n")',
    'EXT4-fs warning (device sdb1): ext4_end_bio:317: I/O error -5 writing to inode 2883604 (offset 0 size 4096 starting block 11534356)':
        'read in torvalds/linux@001e4a87 fs/ext4/page-io.c ext4_end_bio(struct bio *bio, int error): ext4_warning(inode->i_sb, "I/O error %d writing to inode %lu (offset %llu size %ld starting block %llu)", error, ...)',
    'nf_conntrack: table full, dropping packet':
        'find_string on the format (kernel source copies, no tree named): net_warn_ratelimited("nf_conntrack: table full, dropping packet\\n") (net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc); a ~4.0 copy has no pr_fmt, but later copies add #define pr_fmt(fmt) KBUILD_MODNAME ": " fmt, so newer kernels print the doubled "nf_conntrack: nf_conntrack: table full, dropping packet" (seen in Ubuntu 4.15+/5.x logs)',
    'nf_conntrack: nf_conntrack: table full, dropping packet':
        'find_string on the format (kernel source copies, no tree named): net_warn_ratelimited("nf_conntrack: table full, dropping packet\\n") in copies whose nf_conntrack_core.c defines pr_fmt(fmt) KBUILD_MODNAME ": " fmt, which prints the module name twice (net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc)',
    'nf_conntrack: nf_conntrack: table full in netns 4026532256, dropping packet':
        'find_string on the format (kernel source copies, no tree named): net_warn_ratelimited("nf_conntrack: table full in netns %u, dropping packet\\n", net->ns.inum) in the else-branch of net == &init_net (nf_conntrack_core.c, patch reviewed on netfilter-devel in 2023 and July 2025); the file has pr_fmt KBUILD_MODNAME ": ", so the module name is printed twice',
    'nfs: server nfs01 not responding, still trying':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_NOTICE "%s: server %s not responding, still trying\\n", clnt->cl_program->name, ...servername) (net/sunrpc/clnt.c call_timeout / rpc_check_timeout; pr_notice_ratelimited in newer trees)',
    'nfs: server nfs01 not responding, timed out':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_NOTICE "%s: server %s not responding, timed out\\n", ...) (net/sunrpc/clnt.c), printed for soft mounts; program name "nfs"',
    'lockd: server 10.0.0.5 not responding, timed out':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_NOTICE "%s: server %s not responding, timed out\\n", ...) for soft RPC tasks (net/sunrpc/clnt.c); cl_program->name is "lockd" for the NLM client',
    'CIFS: VFS: \\\\fs01 has not responded in 180 seconds. Reconnecting...':
        'find_string on the format (kernel source copies, no tree named): cifs_server_dbg(VFS, "has not responded in %lu seconds. Reconnecting...\\n", (3 * server->echo_interval) / HZ) (fs/cifs/connect.c server_unresponsive); for VFS it prints pr_err("VFS: \\\\\\\\%s " fmt, server->hostname) with pr_fmt "CIFS: "; older: cifs_dbg(VFS, "Server %s has not responded in %lu seconds. Reconnecting...\\n", ...)',
    'TCP: TCP: Possible SYN flooding on port 80. Sending cookies.  Check SNMP counters.':
        'find_string on the format (kernel source copies, no tree named): pr_info("%s: Possible SYN flooding on port %d. %s.  Check SNMP counters.\\n", proto, ntohs(tcp_hdr(skb)->dest), msg) with proto passed as "TCP" (tcp_ipv4.c/tcp_input.c tcp_syn_flood_action, pr_fmt "TCP: "), which gives the doubled "TCP: TCP:"',
    'TCP: request_sock_TCP: Possible SYN flooding on port 80. Sending cookies.  Check SNMP counters.':
        'find_string on the format (kernel source copies, no tree named): net_info_ratelimited("%s: Possible SYN flooding on port %d. %s.  Check SNMP counters.\\n", proto, sk->sk_num, msg) (net/ipv4/tcp_input.c tcp_syn_flood_action, proto = rsk_ops->slab_name "request_sock_TCP", pr_fmt "TCP: "); later kernels use "%s: Possible SYN flooding on port %pI4:%u. %s.\\n"',
    'TCP: out of memory -- consider tuning tcp_mem':
        'find_string on the format (kernel source copies, no tree named): net_info_ratelimited("out of memory -- consider tuning tcp_mem\\n") (net/ipv4/tcp.c tcp_check_oom, pr_fmt "TCP: "; a compiled copy shows "\\016TCP: out of memory -- consider tuning tcp_mem")',
    'TCP: too many orphaned sockets':
        'find_string on the format (kernel source copies, no tree named): net_info_ratelimited("too many orphaned sockets\\n") (net/ipv4/tcp.c tcp_check_oom, pr_fmt "TCP: ")',
    'neighbour: arp_cache: neighbor table overflow!':
        'find_string on the format (kernel source copies, no tree named): net_info_ratelimited("%s: neighbor table overflow!\\n", tbl->id) (net/core/neighbour.c neigh_alloc; the file has #define pr_fmt(fmt) KBUILD_MODNAME ": " fmt, i.e. "neighbour: "; tbl->id is "arp_cache")',
    'e1000e 0000:00:1f.6 eno1: Detected Hardware Unit Hang:':
        'find_string on the format (kernel source copies, no tree named): e_err("Detected Hardware Unit Hang:\\n" "  TDH <%x>\\n" ...) (drivers/net/ethernet/intel/e1000e/netdev.c e1000_print_hw_hang; e_err is netdev_err(hw->adapter->netdev, ...)), a multi-line message whose first line this is',
    'igb 0000:04:00.0: Detected Tx Unit Hang':
        'read in brenocfg/AnghaBench@807856c6 linux/extr_linuxdriversnetethernetinteligbigb_main.c_igb_clean_tx_irq.c igb_clean_tx_irq (extracted from igb_main.c): dev_err(tx_ring->dev, "Detected Tx Unit Hang\\n" "  Tx Queue <%d>\\n" ...); tx_ring->dev is the PCI device, so no interface name is printed (unlike ixgbe/igc)',
    'ixgbe 0000:03:00.0 eth2: Detected Tx Unit Hang':
        'find_string on the format (kernel source copies, no tree named): e_err(drv, "Detected Tx Unit Hang\\n" "  Tx Queue <%d>\\n" ...) (drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_clean_tx_irq; e_err is netif_err(adapter, msglvl, adapter->netdev, ...)), first line of a multi-line message',
    'igb 0000:04:00.0 eth0: PCIe link lost':
        'find_string on the format (kernel source copies, no tree named): netdev_err(netdev, "PCIe link lost\\n") (drivers/net/ethernet/intel/igb/igb_main.c igb_rd32, later with WARN(pci_device_is_present(...), "igb: Failed to read reg 0x%x!\\n")); ", device now detached" is igc/fm10k wording (netif_device_detach + netdev_err), not found in any igb copy',
    'igc 0000:0b:00.0 enp11s0: PCIe link lost, device now detached':
        'find_string on the format (kernel source copies, no tree named): netif_device_detach(netdev); netdev_err(netdev, "PCIe link lost, device now detached\\n") (drivers/net/ethernet/intel/igc/igc_main.c igc_rd32)',
    'ixgbe 0000:03:00.0: Adapter removed':
        'find_string on the format (kernel source copies, no tree named): e_dev_err("Adapter removed\\n") (drivers/net/ethernet/intel/ixgbe/ixgbe_main.c ixgbe_remove_adapter; e_dev_err is dev_err(&adapter->pdev->dev, ...))',
    "mlx5_core 0000:3b:00.0: poll_health:801:(pid 0): device's health compromised - reached miss count":
        'find_string on the format (kernel source copies, no tree named): mlx5_core_err(dev, "device\'s health compromised - reached miss count\\n") (drivers/net/ethernet/mellanox/mlx5/core/health.c poll_health); mlx5_core_err adds "%s:%d:(pid %d): " (__func__, __LINE__, current->pid); older copies use plain dev_err without that prefix; the line number varies by version',
    'mlx4_en: eth2: Link Down':
        'find_string on the format (kernel source copies, no tree named): en_info(priv, "Link Down\\n") (drivers/net/ethernet/mellanox/mlx4/en_netdev.c mlx4_en_linkstate); en_print does printk(level "%s: %s: " format, DRV_NAME "mlx4_en", priv->dev->name) when registered',
    'mlx4_en: eth2: Link Up':
        'find_string on the format (kernel source copies, no tree named): en_info(priv, "Link Up\\n") (mlx4_en_linkstate; en_print prefix "mlx4_en: %s: ")',
    'device-mapper: thin: 252:4: switching pool to out-of-data-space (error IO) mode':
        'find_string on the format (kernel source copies, no tree named): DMINFO("%s: switching pool to %s%s mode", dm_device_name(pool->pool_md), descs[(int)mode], extra_desc ? : "") (drivers/md/dm-thin.c notify_of_pool_mode_change, DM_MSG_PREFIX "thin") with extra_desc " (error IO)" when pf.error_if_no_space is set',
    'device-mapper: thin: 252:4: switching pool to out-of-data-space (queue IO) mode':
        'find_string on the format (kernel source copies, no tree named): DMINFO("%s: switching pool to %s%s mode", dm_device_name(pool->pool_md), descs[(int)mode], extra_desc ? : "") (drivers/md/dm-thin.c notify_of_pool_mode_change, DM_MSG_PREFIX "thin") with extra_desc " (queue IO)" when error_if_no_space is not set',
    'device-mapper: thin: 252:4: switching pool to read-only mode':
        'find_string on the format (kernel source copies, no tree named): DMINFO("%s: switching pool to %s%s mode", dm_device_name(pool->pool_md), descs[(int)mode], extra_desc ? : "") (drivers/md/dm-thin.c notify_of_pool_mode_change, DM_MSG_PREFIX "thin") (descs[] maps both PM_OUT_OF_METADATA_SPACE and PM_READ_ONLY to "read-only")',
    'device-mapper: thin: 252:4: switching pool to fail mode':
        'find_string on the format (kernel source copies, no tree named): DMINFO("%s: switching pool to %s%s mode", dm_device_name(pool->pool_md), descs[(int)mode], extra_desc ? : "") (drivers/md/dm-thin.c notify_of_pool_mode_change, DM_MSG_PREFIX "thin") (descs[PM_FAIL] = "fail")',
    'device-mapper: snapshots: Invalidating snapshot: Unable to allocate exception.':
        'find_string on the format (kernel source copies, no tree named): DMERR("Invalidating snapshot: Unable to allocate exception.") for err == -ENOMEM (drivers/md/dm-snap.c __invalidate_snapshot, DM_MSG_PREFIX "snapshots")',
    'device-mapper: snapshots: Invalidating snapshot: Error reading/writing.':
        'find_string on the format (kernel source copies, no tree named): DMERR("Invalidating snapshot: Error reading/writing.") for err == -EIO (drivers/md/dm-snap.c __invalidate_snapshot, DM_MSG_PREFIX "snapshots")',
    'megaraid_sas 0000:18:00.0: 12345 (boot + 25s/0x0004/CRIT) - VD 01/1 is now DEGRADED':
        'find_string on the format (kernel source copies, no tree named): dev_info(&instance->pdev->dev, "%d (%s/0x%04x/%s) - %s\\n", seq_num, format_timestamp(...), locale, format_class(class), evt_detail->description) (drivers/scsi/megaraid/megaraid_sas_base.c megasas_decode_evt); format_timestamp prints "boot + %us" when the top byte is 0xff and format_class maps CRITICAL to "CRIT"; the description text comes from controller firmware and cannot be checked in the source',
    'megaraid_sas 0000:18:00.0: 12346 (712345678s/0x0002/FATAL) - Controller encountered a fatal error and was reset':
        'find_string on the format (kernel source copies, no tree named): dev_info(&instance->pdev->dev, "%d (%s/0x%04x/%s) - %s\\n", ...) (megaraid_sas_base.c megasas_decode_evt); format_timestamp prints "%us" for absolute times, format_class maps FATAL to "FATAL"; the description is firmware text',
    'mpt3sas_cm0: fault_state(0x2622)!':
        'find_string on the format (kernel source copies, no tree named): ioc_err(ioc, "fault_state(0x%04x)!\\n", fault_code) (drivers/scsi/mpt3sas/mpt3sas_base.c mpt3sas_base_fault_info; older copies use printk(MPT3SAS_ERR_FMT "fault_state(0x%04x)!\\n", ioc->name, ...) / pr_err(MPT3SAS_FMT ...)); ioc->name is "mpt3sas_cm0"',
    'mpt2sas0: fault_state(0x2622)!':
        'find_string on the format (kernel source copies, no tree named): printk(MPT2SAS_ERR_FMT "fault_state(0x%04x)!\\n", ioc->name, fault_code) (drivers/scsi/mpt2sas/mpt2sas_base.c mpt2sas_base_fault_info; MPT2SAS_FMT "%s: ", ioc->name "mpt2sas%d")',
    'hpsa 0000:03:00.0: Controller lockup detected: 0x00130000':
        'find_string on the format (kernel source copies, no tree named): dev_warn(&h->pdev->dev, "Controller lockup detected: 0x%08x\\n", h->lockup_detected) (drivers/scsi/hpsa.c controller_lockup_detected, older driver)',
    'md: kicking non-fresh sdb1 from array!':
        'find_string on the format (kernel source copies, no tree named): pr_warn("md: kicking non-fresh %pg from array!\\n", rdev->bdev) (drivers/md/md.c analyze_sbs; older: printk(KERN_WARNING "md: kicking non-fresh %s from array!\\n", bdevname(...)))',
    'md/raid:md0: not enough operational devices (2/4 failed)':
        'read in torvalds/linux@0021b7bc drivers/md/raid5.c run(): printk(KERN_ERR "md/raid:%s: not enough operational devices" " (%d/%d failed)\\n", mdname(mddev), mddev->degraded, conf->raid_disks); kernel-log copies from later kernels show the same text',
    'md/raid1:md0: Disk failure on sdb1, this is the last device.':
        'find_string on the format (kernel source copies, no tree named): pr_crit("md/raid1:%s: Disk failure on %pg, this is the last device.\\n" "md/raid1:%s: Cannot continue operation (%d/%d failed).\\n", ...) added to drivers/md/raid1.c raid1_error by a 2025 patch; the input is the first of the two lines',
    'sd 2:0:0:0: Device offlined - not ready after error recovery':
        'find_string on the format (kernel source copies, no tree named): sdev_printk(KERN_INFO, scmd->device, "Device offlined - " "not ready after error recovery\\n") (drivers/scsi/scsi_error.c scsi_eh_offline_sdevs)',
    'sd 2:0:0:0: rejecting I/O to offline device':
        'find_string on the format (kernel source copies, no tree named): sdev_printk(KERN_ERR, sdev, "rejecting I/O to offline device\\n") (drivers/scsi/scsi_lib.c scsi_prep_state_check); later printed once per offline transition (offline_already) and then ratelimited',
    'sd 2:0:0:0: [sdb] Medium access timeout failure. Offlining disk!':
        'find_string on the format (kernel source copies, no tree named): scmd_printk(KERN_ERR, scmd, "Medium access timeout failure. Offlining disk!\\n") (drivers/scsi/sd.c sd_eh_action); in 3.10 scmd_printk prefixes only "[%s] " disk_name, from about 4.0 it also adds "tag#%d " (e.g. the log copy "sd 3:0:0:0: [sdc] tag#79 Medium access timeout failure. Offlining disk!")',
    'sd 3:0:0:0: [sdc] tag#79 Medium access timeout failure. Offlining disk!':
        'find_string on the format (kernel source copies, no tree named): scmd_printk(KERN_ERR, scmd, "Medium access timeout failure. Offlining disk!\\n") (drivers/scsi/sd.c sd_eh_action); scmd_printk prints "[%s] tag#%d " from about 4.0',
    'sd 2:0:0:0: [sdb] tag#3 timing out command, waited 180s':
        'find_string on the format (kernel source copies, no tree named): scmd_printk(KERN_ERR, cmd, "timing out command, waited %lus\\n", wait_for/HZ) (drivers/scsi/scsi_lib.c scsi_io_completion, later scsi_cmd_runtime_exceeced); earlier copies use sdev_printk, which prints without "[sdb] tag#3 "',
    'CPU3: Package temperature above threshold, cpu clock throttled (total events = 1)':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_CRIT "CPU%d: %s temperature above threshold, cpu clock throttled (total events = %lu)\\n", this_cpu, level == CORE_LEVEL ? "Core" : "Package", state->count) (arch/x86/kernel/cpu/mcheck/therm_throt.c therm_throt_process, no pr_fmt)',
    'mce: CPU3: Core temperature above threshold, cpu clock throttled (total events = 12)':
        'find_string on the format (kernel source copies, no tree named): pr_crit("CPU%d: %s temperature above threshold, cpu clock throttled (total events = %lu)\\n", ...) in therm_throt_process (arch/x86/kernel/cpu/mce/therm_throt.c, which includes internal.h: #undef pr_fmt / #define pr_fmt(fmt) "mce: " fmt); a later patch changed pr_crit to pr_warn before the 5.5 rework dropped the message',
    'CPU3: Package temperature is above threshold, cpu clock is throttled (total events = 4231)':
        'read in torvalds/linux@1ac731c5 drivers/thermal/intel/therm_throt.c throttle_active_work: pr_warn("CPU%d: %s temperature is above threshold, cpu clock is throttled (total events = %lu)\\n", ...) with no pr_fmt in the file; the same call in the older arch/x86/kernel/cpu/mce/therm_throt.c includes internal.h, so those kernels print "mce: CPU3: ..."',
    'thermal thermal_zone0: critical temperature reached (105 C), shutting down':
        'find_string on the format (kernel source copies, no tree named): dev_emerg(&tz->device, "critical temperature reached (%d C), shutting down\\n", tz->temperature / 1000) (drivers/thermal/thermal_core.c handle_critical_trips); older copies have "critical temperature reached(%d C),shutting down" (no spaces), and 3.10 has pr_emerg("Critical temperature reached(%d C),shutting down\\n")',
    "Critical temperature reached(105 C),shutting down":
        'find_string on the format (kernel source copies, no tree named): pr_emerg("Critical temperature reached(%d C),shutting down\\n", ...) (drivers/thermal/thermal_sys.c, 3.10)',
    "thermal thermal_zone0: critical temperature reached(105 C),shutting down":
        'find_string on the format (kernel source copies, no tree named): dev_emerg(&tz->device, "critical temperature reached(%d C),shutting down\\n", tz->temperature / 1000) (drivers/thermal/thermal_core.c handle_critical_trips, before the spaced form)',
    "thermal thermal_zone0: acpitz: critical temperature reached":
        'find_string on the format (kernel source copies, no tree named): dev_emerg(&tz->device, "%s: critical temperature reached\\n", tz->type) (drivers/thermal/thermal_core.c thermal_zone_device_halt, then hw_protection_shutdown("Temperature too high", ...) or hw_protection_reboot)',
    "reboot: HARDWARE PROTECTION shutdown (Temperature too high)":
        'find_string on the format (kernel source copies, no tree named): pr_emerg("HARDWARE PROTECTION shutdown (%s)\\n", reason) (kernel/reboot.c hw_protection_shutdown, pr_fmt "reboot: "), reason "Temperature too high" from drivers/thermal/thermal_core.c thermal_zone_device_critical',
    'thermal thermal_zone0: acpitz: critical temperature reached, shutting down':
        'find_string on the format (kernel source copies, no tree named): dev_emerg(&tz->device, "%s: critical temperature reached, shutting down\\n", tz->type) (drivers/thermal/thermal_core.c thermal_zone_device_critical): the zone type (e.g. "acpitz", "x86_pkg_temp") is printed before the text; later patches change it to "%s: critical temperature reached\\n"',
    "clocksource: timekeeping watchdog on CPU67: Marking clocksource 'tsc' as unstable because the skew is too large:":
        'find_string on the format (kernel source copies, no tree named): pr_warn("timekeeping watchdog on CPU%d: Marking clocksource \'%s\' as unstable because the skew is too large:\\n", smp_processor_id(), cs->name) (kernel/time/clocksource.c clocksource_watchdog, pr_fmt "clocksource: "), followed by wd_/cs_ detail lines',
    'Clocksource tsc unstable (delta = -95089577 ns)':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_WARNING "Clocksource %s unstable (delta = %Ld ns)\\n", cs->name, delta) (kernel/time/clocksource.c clocksource_unstable)',
    'mce: CMCI storm detected: switching to poll mode':
        'find_string on the format (kernel source copies, no tree named): pr_notice("CMCI storm detected: switching to poll mode\\n") (arch/x86/kernel/cpu/mce/intel.c cmci_storm_detect; the mce/internal.h pr_fmt is "mce: "); the 2023-24 per-bank storm rework replaced it with "CPU%d BANK%d CMCI storm detected\\n"',
    'RAS: Soft-offlining pfn: 0x10cb39':
        'find_string on the format (kernel source copies, no tree named): pr_err("Soft-offlining pfn: 0x%llx\\n", pfn) (drivers/ras/cec.c cec_add_elem, pr_fmt "RAS: ")',
    'Memory failure: 0x10cb39: unhandlable page.':
        'find_string on the format (kernel source copies, no tree named): pr_err("%#lx: unhandlable page.\\n", page_to_pfn(p)) (mm/memory-failure.c get_any_page, pr_fmt "Memory failure: "); an earlier copy had the literal pr_err("Memory failure: %#lx: unhandlable page.\\n", ...), which prints the same text',
    'Memory failure: 0x10cb39: recovery action for dirty LRU page: Recovered':
        'find_string on the format (kernel source copies, no tree named): pr_err("%#lx: recovery action for %s: %s\\n", pfn, action_page_types[type], action_name[result]) (mm/memory-failure.c action_result, pr_fmt "Memory failure: "; earlier pr_err("Memory failure: %#lx: recovery action for %s: %s\\n", ...), before that "MCE %#lx: recovery action for %s: %s")',
    'VFS: file-max limit 65536 reached':
        'find_string on the format (kernel source copies, no tree named): pr_info("VFS: file-max limit %lu reached\\n", get_max_files()) (fs/file_table.c get_empty_filp / alloc_empty_file)',
    'audit: backlog limit exceeded':
        'find_string on the format (kernel source copies, no tree named): audit_log_lost("backlog limit exceeded") then audit_panic: pr_err("%s\\n", message) when audit_failure is AUDIT_FAIL_PRINTK (kernel/audit.c, pr_fmt KBUILD_MODNAME ": "; 3.10 printk(KERN_ERR "audit: %s\\n", message))',
    'irq 16: nobody cared (try booting with the "irqpoll" option)':
        'find_string on the format (kernel source copies, no tree named): pr_err("irq %d: nobody cared (try booting with the \\"irqpoll\\" option)\\n", irq) (kernel/irq/spurious.c __report_bad_irq; printk(KERN_ERR ...) with the same text in older trees)',
    'divide error: 0000 [#1] SMP PTI':
        'find_string on the format (kernel source copies, no tree named): printk(KERN_DEFAULT "%s: %04lx [#%d]%s%s%s%s%s\\n", str, err & 0xffff, ++die_counter, preempt, " SMP", ..., " PTI"/" NOPTI") (arch/x86/kernel/dumpstack.c __die / __die_header; str "divide error" from do_error_trap); a 2024 patch prefixes "Oops: "',
    'stack segment: 0000 [#1] SMP NOPTI':
        'find_string on the format (kernel source copies, no tree named): __die_header printk(KERN_DEFAULT "%s: %04lx [#%d]%s%s%s%s%s\\n", ...) with str "stack segment" (arch/x86/kernel/traps.c X86_TRAP_SS) and " NOPTI" when PTI is configured but off',
    'double fault: 0000 [#1] SMP':
        'find_string on the format (kernel source copies, no tree named): __die / __die_header printk(KERN_DEFAULT "%s: %04lx [#%d]%s%s%s%s%s\\n", ...) with str "double fault" (traps.c do_double_fault / exc_double_fault); no PTI field only when CONFIG_PAGE_TABLE_ISOLATION is not set',
    'invalid opcode: 0000 [#1] SMP PTI':
        'find_string on the format (kernel source copies, no tree named): __die_header printk(KERN_DEFAULT "%s: %04lx [#%d]%s%s%s%s%s\\n", ...) with str "invalid opcode" (traps.c do_invalid_op / handle_invalid_op)',
    'BUG: Bad page map in process java  pte:8000000b3e6a4067 pmd:b3e6a5067':
        'find_string on the format (kernel source copies, no tree named): pr_alert("BUG: Bad page map in process %s  pte:%08llx pmd:%08llx\\n", current->comm, (long long)pte_val(pte), (long long)pmd_val(*pmd)) (mm/memory.c print_bad_pte); %08llx only zero-pads up to 8 digits, so pmd 0xb3e6a5067 prints as "b3e6a5067", not "0b3e6a5067"; a 2025 patch changes the format to "entry:%08llx"',
    'XFS: java(1234) possible memory allocation deadlock size 65552 in kmem_alloc (mode:0x250)':
        'find_string on the format (kernel source copies, no tree named): xfs_err(NULL, "%s(%u) possible memory allocation deadlock size %u in %s (mode:0x%x)", current->comm, current->pid, (unsigned int)size, __func__, lflags) (fs/xfs/kmem.c kmem_alloc); xfs_err with mp == NULL prints "XFS: %pV"',
    'XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)':
        'find_string on the format (kernel source copies, no tree named): xfs_err(NULL, "possible memory allocation deadlock in %s (mode:0x%x)", __func__, lflags) (fs/xfs/kmem.c kmem_alloc, 3.x); a later patch added "%s(%u) " comm/pid; also matches a kernel-log copy "XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)"',
    'EXT4-fs (sda1): error count since last fsck: 5':
        'find_string on the format (kernel source copies, no tree named): ext4_msg(sb, KERN_NOTICE, "error count since last fsck: %u", le32_to_cpu(es->s_error_count)) (fs/ext4/super.c print_daily_error_info); ext4_msg prints "EXT4-fs (%s): "',
    'DMAR: [DMA Read NO_PASID] Request device [3b:00.0] fault addr 0xffe00000 [fault reason 0x06] PTE Read access is not set':
        'find_string on the format (kernel source copies, no tree named): pr_err("[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\\n", type ? "DMA Read" : "DMA Write", ...) (drivers/iommu/intel/dmar.c dmar_fault_do_one, pr_fmt "DMAR: "); it was first added as "[0x%02x:0x%02x.%d]" and later fixed to "[%02x:%02x.%d]"; reason 6 is "PTE Read access is not set"',
    'DMAR: [DMA Read] Request device [3b:00.0] fault addr ffe00000 [fault reason 06] PTE Read access is not set':
        'find_string on the format (kernel source copies, no tree named): pr_err("[%s] Request device [%02x:%02x.%d] fault addr %llx [fault reason %02d] %s\\n", ...) (drivers/iommu/dmar.c dmar_fault_do_one, pr_fmt "DMAR: ")',
    'ahci 0000:28:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0035 address=0x7fffff00000 flags=0x0000]':
        'find_string on the format (kernel source copies, no tree named): pci_err(pdev, "Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx flags=0x%04x]\\n", domain_id, address, flags) (drivers/iommu/amd/iommu.c amd_iommu_report_page_fault; dev_fmt = pr_fmt "AMD-Vi: "); 4.x copies use dev_err(&pdev->dev, "AMD-Vi: Event logged [... address=0x%016llx ...]") which zero-pads the address',
    'AMD-Vi: Event logged [IO_PAGE_FAULT device=28:00.0 domain=0x0035 address=0x7fffff00000 flags=0x0000]':
        'find_string on the format (kernel source copies, no tree named): pr_err("Event logged [IO_PAGE_FAULT device=%02x:%02x.%x domain=0x%04x address=0x%llx flags=0x%04x]\\n", ...) (amd iommu.c amd_iommu_report_page_fault, pr_fmt "AMD-Vi: "), used when the device has no dev_data or the per-device ratelimit is exhausted; 4.x copies have "AMD-Vi: ... address=0x%016llx"',
}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "name", "severity", "labels", "source"), POSITIVE, ids=[p[0][:60] for p in POSITIVE]
)
def test_kernel_formats_across_versions(
    line: str, name: str, severity: Severity, labels: dict[str, str], source: str
) -> None:
    found = MATCHER.match(LogLine(line, kernel=True))
    assert found is not None, f"{line!r} ({source}) matched nothing"
    assert (found.pattern.name, found.severity) == (name, severity), source
    assert labels.items() <= dict(found.labels).items(), source


@pytest.mark.parametrize("line", NEGATIVE)
def test_benign_lines_of_the_same_subsystems_stay_silent(line: str) -> None:
    assert MATCHER.match(LogLine(line, kernel=True)) is None


# Seen in real logs, but in no source the code index holds: the closed NVIDIA driver before the
# open kernel module (Xid lines without "PCI:", RmInitAdapter) and GSP heartbeat text not in the
# stored kernel_gsp.c; XFS's 3.x xfs_log_force and a BTRFS checksum line found only in a syzbot log.
UNVERIFIED = {
    "NVRM: Xid (0000:03:00): 79, GPU has fallen off the bus.",
    "NVRM: Xid (0000:03:00): 13, 0001 00000000 0000a097 00001b0c 00000000 00000000",
    "NVRM: RmInitAdapter failed! (0x26:0xffff:1290)",
    "NVRM: _kgspIsHeartbeatTimedOut: Heartbeat timed out, curr 0x1f2e, last 0x1f2e, timeout 5200 ms",
    "BTRFS warning (device sda2): checksum verify failed on logical 5312512 mirror 1 wanted 0xb0433826 "
    "found 0x810ceb2b level 0",
    "XFS (sda1): xfs_log_force: error -5 returned.",
    # NVIDIA's NVSwitch driver: the SXid framing ("nvidia-%s: SXid (PCI:...): %05d, " then "Fatal, Link %02d %s%s" or
    # "Non-fatal, ...") read in NVIDIA/open-gpu-kernel-modules@1739a20e intr_nvswitch.h; the error descriptions are
    # its error table's text, not found beside these SXid numbers.
    "nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 11001, Fatal, Link 44 ingress invalid command (First)",
    "nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)",
}


def test_unverified_lines_are_the_known_few() -> None:
    """A new catalogue line comes with its source, or is named here with the reason."""
    assert {line for line, *_ in POSITIVE} - set(VERIFIED) == UNVERIFIED


def test_the_verification_record_names_only_catalogue_lines() -> None:
    lines = {line for line, *_ in POSITIVE}
    assert set(VERIFIED) <= lines, set(VERIFIED) - lines
    assert all(note for note in VERIFIED.values())


def test_every_new_pattern_is_keyword_prefiltered() -> None:
    """A pattern without keywords would run on every line and break the throughput goal."""
    for pattern in MATCHER.kernel:
        assert pattern.keywords, pattern.name
        for line, name, *_ in POSITIVE:
            if name == pattern.name and pattern.regex.search(line):
                assert any(k in line for k in pattern.keywords), (pattern.name, line)


def test_a_crash_of_pid_1_is_reported_even_with_segfaults_off() -> None:
    crash = "systemd[1]: segfault at 0 ip 000055d1c2a3b4c5 sp 00007ffc1a2b3c40 error 4 in systemd[55d1c2a00000+e6000]"
    found = DEFAULT.match(LogLine(crash, kernel=True))
    assert found is not None and found.severity == Severity.CRITICAL
    other = crash.replace("systemd[1]", "systemd[11]")
    assert DEFAULT.match(LogLine(other, kernel=True)) is None  # other segfaults stay opt-in


# -- severity rules ---------------------------------------------------------------------------------


def _severity(text: str, level: int | None = None) -> Severity:
    found = MATCHER.match(LogLine(text, kernel=True, level=level))
    assert found is not None, text
    return found.severity


def test_any_panic_is_an_emergency_whatever_else_matches() -> None:
    assert (
        _severity("Kernel panic - not syncing: Fatal exception in interrupt") == Severity.EMERGENCY
    )
    assert _severity("Kernel panic - not syncing: Fatal exception", level=4) == Severity.EMERGENCY


def test_xid_text_raises_the_table() -> None:
    # Xid 13 is warn in the table; the driver's text saying Fatal or fallen off the bus decides.
    assert (
        _severity("NVRM: Xid (PCI:0000:3b:00): 13, pid=1, name=x, Graphics Exception: ESR 0x5")
        == Severity.WARN
    )
    assert (
        _severity("NVRM: Xid (PCI:0000:3b:00): 13, pid=1, name=x, Fatal Graphics Exception")
        == Severity.CRITICAL
    )
    assert (
        _severity("NVRM: Xid (PCI:0000:3b:00): 154, GPU has fallen off the bus.")
        == Severity.EMERGENCY
    )


def test_data_loss_and_pid_1_are_critical() -> None:
    assert (
        _severity("EXT4-fs (sdb1): This should not happen!! Data will be lost") == Severity.CRITICAL
    )
    assert (
        _severity("traps: systemd[1] trap invalid opcode ip:55d1c2a3b4c5 sp:7ffc1a2b3c40 error:0")
        == Severity.CRITICAL
    )
    assert (
        _severity("traps: sshd[1001] trap invalid opcode ip:55d1c2a3b4c5 sp:7ffc1a2b3c40 error:0")
        == Severity.INFO
    )


def test_the_kernel_level_raises_warnings_but_never_lowers() -> None:
    ghes = "{4}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1"
    assert (
        _severity(ghes, level=4) == Severity.WARN
    )  # ghes.c prints corrected records at KERN_WARNING
    assert _severity(ghes, level=3) == Severity.CRITICAL  # and the others at KERN_ERR
    assert _severity(ghes) == Severity.WARN  # a source without levels (syslog file)
    amd = "[Hardware Error]: Corrected error, no action required."
    assert _severity(amd, level=0) == Severity.WARN  # mce_amd.c prints everything at KERN_EMERG
    hung = "INFO: task java:4242 blocked for more than 120 seconds."
    assert _severity(hung, level=3) == Severity.WARN  # err alone raises hardware lines only
    assert _severity(hung, level=2) == Severity.CRITICAL
    oom = "Out of memory: Killed process 1 (x) total-vm:1kB"
    assert _severity(oom, level=7) == Severity.CRITICAL  # a low level never lowers


def test_refine_severity_directly() -> None:
    pattern = next(p for p in MATCHER.kernel if p.name == "hung_task")
    line = LogLine("INFO: task a:1 blocked for more than 1 seconds", True, level=1)
    assert refine_severity(pattern, Severity.WARN, line) == Severity.CRITICAL
    assert refine_severity(pattern, Severity.WARN, LogLine(line.text, True)) == Severity.WARN


def test_a_fatal_record_after_a_corrected_one_is_not_counted_as_its_repeat() -> None:
    # Each GHES record ("{N}") is held for the grouping window and goes out as one alert.
    alerter = LogAlerter(MATCHER, aggregate_secs=120)
    corrected = "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0"
    fatal = "{2}[Hardware Error]: event severity: fatal"
    assert alerter.process(LogLine(corrected, True), now=0) == []
    assert (
        alerter.process(LogLine("{1}[Hardware Error]: event severity: corrected", True), now=1)
        == []
    )
    assert alerter.process(LogLine(fatal, True), now=1.5) == []
    first = alerter.flush(2.0)
    assert [a.severity for a in first] == [Severity.WARN]
    second = alerter.flush(3.5)
    assert [a.severity for a in second] == [Severity.CRITICAL]


def test_every_source_that_knows_the_level_passes_it_on() -> None:
    from agent.logs.journald import parse_journal_entry
    from agent.logs.kmsg import parse_kmsg_record
    from agent.logs.syslogfile import parse_syslog_line

    record = parse_kmsg_record(b"3,812,5133009211,-;{1}[Hardware Error]: event severity: fatal")
    assert record is not None and record.level == 3
    entry = parse_journal_entry(
        json.dumps({"MESSAGE": "x", "_TRANSPORT": "kernel", "PRIORITY": "2"})
    )
    assert entry is not None and entry[0].level == 2
    rfc5424 = parse_syslog_line(
        "<2>1 2024-04-05T19:34:38Z host kernel - - - INFO: task a:1 blocked for more than 1 seconds",
        kernel_trusted=True,  # the system syslog file when no kmsg or journald vouches better
    )
    assert (
        rfc5424.kernel
        and rfc5424.level == 2
        and _severity(rfc5424.text, rfc5424.level) == Severity.CRITICAL
    )
    assert parse_syslog_line("Apr  5 19:34:38 host kernel: [  1.0] x").level is None


def test_gpu_failures_that_are_not_xids_say_what_they_are() -> None:
    alerter = LogAlerter(MATCHER)
    (gone,) = alerter.process(
        LogLine("NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.", True), now=0
    )
    assert (
        gone.message.startswith("GPU 0000:3b:00.0 fallen off bus: NVRM:")
        and gone.severity == Severity.EMERGENCY
    )
    (init,) = alerter.process(
        LogLine("NVRM: RmInitAdapter failed! (0x26:0xffff:1290)", True), now=0
    )
    assert init.message.startswith("GPU init failed: NVRM:")


def test_oom_headers_do_not_claim_a_kill() -> None:
    alerter = LogAlerter(MATCHER)
    alerter.process(
        LogLine("java invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0", True), 0
    )
    (header,) = alerter.expire_groups(2)
    assert header.message.startswith("OOM killer invoked by java:")
    alerter.process(
        LogLine("Task in /docker/3f2a killed as a result of limit of /docker/3f2a", True), 10
    )
    (memcg,) = alerter.expire_groups(12)
    assert memcg.message.startswith("OOM kill in cgroup /docker/3f2a:")


def test_the_prefilter_finds_what_an_alternation_of_its_keywords_finds() -> None:
    """The prefilter is a trie of the keywords (`any_of`): at each place, the longest keyword
    that starts there, as an alternation of them sorted longest first finds (which each line
    paid for per keyword: the catalogue's second pass halved the matcher's rate with it)."""
    keywords = sorted({k for p in DEFAULT.kernel for k in p.keywords}, key=len, reverse=True)
    alternation = re.compile("|".join(re.escape(k) for k in keywords))
    trie = re.compile(any_of(keywords))
    rng = random.Random(16)
    pieces = [*keywords, " ", "x", "0000:", "[", "(", "eth0"]
    texts = [line for line, *_ in POSITIVE] + NEGATIVE
    texts += [
        "".join(rng.choice(pieces)[: rng.randint(1, 12)] for _ in range(30)) for _ in range(2000)
    ]
    for text in texts:
        assert trie.findall(text) == alternation.findall(text), text
    assert any_of(["Link is Down", "Link", "Link is Up"]) == r"Link(?:\ is\ (?:Down|Up))?"


@pytest.mark.parametrize(
    ("line", "level", "severity"),
    [
        # 3.10-5.4 print every throttle event at KERN_CRIT: a cooling problem, a warning.
        ("CPU3: Package temperature above threshold, cpu clock throttled (total events = 1)", 2, W),
        # memory-failure.c prints a soft offline's outcome at err, as it does an uncorrected error.
        ("Memory failure: 0x10cb39: unhandlable page.", 3, W),
        ("RAS: Soft-offlining pfn: 0x10cb39", 3, W),
        ("Memory failure: 0x10cb39: recovery action for dirty LRU page: Recovered", 3, C),
        # Rows that leave it to the level still take it.
        ("md: kicking non-fresh sdb1 from array!", 2, C),
    ],
)
def test_the_level_does_not_raise_what_the_row_knows_is_a_warning(
    line: str, level: int, severity: Severity
) -> None:
    """A second reader's finding: the catalogue's tests gave no level, and in production the
    kernel's own made every throttle event on RHEL 7 and 8, and every page retired after
    corrected errors, critical."""
    found = DEFAULT.match(LogLine(line, kernel=True, level=level))
    assert found is not None and found.severity == severity


def test_two_arrays_that_cannot_run_are_two_alerts_each_naming_its_array() -> None:
    """A second reader's finding: with no md in the identity, md1's failure was counted as a
    repeat of md0's ("2 times in 3 min") and md1 never named."""
    alerter = LogAlerter(MATCHER, aggregate_secs=120)
    first = alerter.process(
        LogLine("md/raid:md0: not enough operational devices (2/4 failed)", kernel=True), 0.0
    )
    second = alerter.process(
        LogLine("md/raid:md1: not enough operational devices (2/4 failed)", kernel=True), 5.0
    )
    assert [a.message.split(":")[0] for a in first + second] == [
        "RAID array failed on md0",
        "RAID array failed on md1",
    ]
    assert alerter.flush(200.0) == []  # neither was a repeat of the other


@pytest.mark.parametrize(
    ("line", "head", "why"),
    [
        ("nfs: server nfs01 not responding, still trying", "server nfs01 not responding", ""),
        ("XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)", "XFS allocation stalls", ""),
        ("sd 2:0:0:1: rejecting I/O to offline device", "disk offline on 2:0:0:1", ""),
        ("nf_conntrack: table full, dropping packet",
         "conntrack table full", " (critical: the log catalogue's level for conntrack_full)"),
        ("igb 0000:04:00.0: Detected Tx Unit Hang", "adapter hang on 0000:04:00.0", ""),
        ("nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)",
         "NVSwitch PCI:0000:05:00.0 SXid 12028", ""),
        ("blk_update_request: I/O error, dev sdb, sector 12345", "I/O error on sdb",
         " (critical: the log catalogue's level for block_io_error, by the kind of error, not a recoverable "
         "transport one)"),
        ("e1000e: eth0 NIC Link is Down", "link down on eth0", ""),
    ],
)  # fmt: skip
def test_an_alert_says_what_it_is_about(line: str, head: str, why: str) -> None:
    """A reader's finding: new rows said "link down on ?" for a full table, "GPU ... itch sxid"
    for an NVSwitch, "server not responding on nfs01".  Above warn, why this severity follows."""
    alerter = LogAlerter(MATCHER)
    (alert,) = alerter.process(LogLine(line, kernel=True), 0.0) + alerter.flush(3600.0)
    assert alert.message == f"{head}: {line}{why}"
