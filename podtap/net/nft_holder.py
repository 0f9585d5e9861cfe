"""A child process that owns one nftables table (`flags owner`) through libnftables.

The kernel ties an owned table to the netlink socket that created it: when this process
ends — because its parent closed the pipe, died, or was SIGKILLed (the child also has
PDEATHSIG) — the table and its rules disappear and traffic flows as if we never were.
Protocol: one JSON object per line on stdin {"id": N, "script": "..."}; one reply per line
on stdout {"id": N, "ok": bool, "error": "..."}. Exits at end of input."""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any


class Nft:
    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def run(self, script: str) -> tuple[bool, str]:
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        self._lib.nft_ctx_get_output_buffer(self._ctx)
        error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode(errors="replace")
        return rc == 0, error.strip()


def main() -> None:
    nft = Nft()
    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        ok, error = nft.run(request["script"])
        print(json.dumps({"id": request["id"], "ok": ok, "error": error}), flush=True)


if __name__ == "__main__":
    main()
