#!/usr/bin/env python3
"""Load libsandlock.so with Python ctypes, as a binding would, and use it.

Usage: ctypes_test.py /path/to/libsandlock.so  (run by tests/c_api.rs).
Checks sl_version(), the error slot, and spawns /bin/true (status 0) and
/bin/false (exit 1) through sl_spawn.
"""
import ctypes
import os
import sys


def main() -> int:
    lib = ctypes.CDLL(sys.argv[1])
    c_char_pp = ctypes.POINTER(ctypes.c_char_p)
    vp = ctypes.c_void_p

    lib.sl_version.restype = ctypes.c_char_p
    lib.sl_version.argtypes = []
    lib.sl_version_number.restype = ctypes.c_uint32
    lib.sl_last_error_message.restype = ctypes.c_char_p
    lib.sl_strerror.restype = ctypes.c_char_p
    lib.sl_strerror.argtypes = [ctypes.c_int32]
    lib.sl_policy_new.argtypes = [ctypes.POINTER(vp)]
    lib.sl_policy_allow_read.argtypes = [vp, ctypes.c_char_p]
    lib.sl_policy_free.argtypes = [vp]
    lib.sl_policy_free.restype = None
    lib.sl_spawn.argtypes = [vp, c_char_pp, ctypes.POINTER(vp)]
    lib.sl_wait.argtypes = [vp, ctypes.POINTER(ctypes.c_int32)]
    lib.sl_child_free.argtypes = [vp]
    lib.sl_child_free.restype = None

    version = lib.sl_version().decode()
    number = lib.sl_version_number()
    major, minor, patch = (int(x) for x in version.split("."))
    assert number == major * 1000000 + minor * 1000 + patch, (version, number)
    print(f"ctypes: libsandlock {version}")

    # A failing call fills the error slot.
    rc = lib.sl_policy_new(None)
    assert rc < 0, rc
    msg = lib.sl_last_error_message().decode()
    assert "sl_policy_new" in msg and "out" in msg, msg
    assert lib.sl_strerror(rc).decode() == "invalid argument", lib.sl_strerror(rc)

    policy = vp()
    assert lib.sl_policy_new(ctypes.byref(policy)) == 0
    for d in ("/usr", "/lib", "/lib64", "/bin", "/etc"):
        if os.path.exists(d):
            rc = lib.sl_policy_allow_read(policy, d.encode())
            assert rc == 0, lib.sl_last_error_message()

    def run(*args: str) -> int:
        argv = (ctypes.c_char_p * (len(args) + 1))(*[a.encode() for a in args], None)
        child = vp()
        rc = lib.sl_spawn(policy, argv, ctypes.byref(child))
        assert rc == 0, (args, rc, lib.sl_last_error_message())
        status = ctypes.c_int32(-1)
        assert lib.sl_wait(child, ctypes.byref(status)) == 0, lib.sl_last_error_message()
        lib.sl_child_free(child)
        return status.value

    status = run("/bin/true")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, hex(status)
    status = run("/bin/false")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, hex(status)
    lib.sl_policy_free(policy)
    lib.sl_policy_free(None)
    print("ctypes: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
