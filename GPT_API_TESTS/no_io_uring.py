"""Run a command with io_uring refused, as Docker's default seccomp profile does.

Usage: python3 no_io_uring.py COMMAND [ARG...]

A seccomp filter makes io_uring_setup, io_uring_enter and io_uring_register fail with
EPERM (the same numbers, 425-427, on x86_64 and aarch64), then the command is exec'd with
the filter in place. Stdlib only (ctypes), Linux only; no root needed (no_new_privs).
"""
from __future__ import annotations

import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
IO_URING_SYSCALLS = (425, 426, 427)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def program() -> bytes:
    """Load the syscall number; refuse the three io_uring calls, allow everything else."""
    count = len(IO_URING_SYSCALLS)
    insns = [(BPF_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    for i, nr in enumerate(IO_URING_SYSCALLS):
        insns.append((BPF_JEQ_K, count - i, 0, nr))  # jump to the final RET ERRNO
    insns += [(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM)]
    return b"".join(struct.pack("=HBBI", *insn) for insn in insns)


def deny_io_uring() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    code = program()
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[2])
    deny_io_uring()
    os.execvp(sys.argv[1], sys.argv[1:])
