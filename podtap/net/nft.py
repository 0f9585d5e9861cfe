"""nftables rule sets, applied atomically with `nft -f -`."""

from __future__ import annotations

from podtap.net.process import run


async def replace_table(family: str, name: str, body: str) -> None:
    """Create or atomically replace table `family name` with `body` (its chains)."""
    table = f"{family} {name}"
    script = f"table {table}\ndelete table {table}\ntable {table} {{\n{body}\n}}\n"
    await run(["nft", "-f", "-"], stdin=script)
