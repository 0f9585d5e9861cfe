"""Sans-IO core of podtap: protocol messages and codec, flow control, and pure logic.

Nothing in this package performs I/O or imports asyncio, socket, aiohttp or subprocess.
"""
