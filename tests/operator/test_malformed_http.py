"""A malformed HTTP request costs the operator's log one line, which does not repeat it
(anyone who can reach the socket could otherwise fill the log, with bytes of their own)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.operator.inproc import operator

GARBAGE = [
    b"GET / HTTP/1.1\r\nHost: operator\r\nno colon here SECRET-1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: SECRET-2\r\n\r\n",
    b"\x16\x03\x01\x02\x00SECRET-3 \r\n\r\n",
]


async def send_raw(sock: Path, data: bytes) -> bytes:
    """`data` on a fresh connection; what the operator answered before it closed."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        writer.write(data)
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("garbage", GARBAGE, ids=["header", "content-length", "tls"])
def test_a_malformed_request_is_one_log_line_without_its_bytes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    async def go() -> bytes:
        async with operator(tmp_path) as (_, sock):
            return await send_raw(sock, garbage)

    with caplog.at_level(logging.DEBUG):
        answer = asyncio.run(go())
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer
    formatter = logging.Formatter("%(asctime)s operator %(levelname)s %(message)s")
    about = [r for r in caplog.records if "request" in r.getMessage()]
    lines = "\n".join(formatter.format(r) for r in about)
    assert len(about) == 1 and "\n" not in lines, lines
    assert "Traceback" not in lines and b"SECRET" not in lines.encode(), lines
