"""docs/policies.md lists every refusal text exactly as the code words it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podtap.core.config import IncomingMode as ConfigMode
from podtap.core.policy.access import file_open_refusal, file_rule
from podtap.core.policy.connect import connect_refusal, scale_down_refusal
from podtap.core.policy.incoming import subscribe_refusal
from podtap.core.policy.outgoing import Connection, dns_refusal, outgoing_refusal
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import HttpFilter, IncomingMode, TransportProtocol
from tests.core.policy.helpers import policy

DOC = Path(__file__).parents[3] / "docs" / "policies.md"
T = "deployment/api"
STEAL, MIRROR = IncomingMode.STEAL, IncomingMode.MIRROR
FIXED = Fixes(profile="profile mirror-only", incoming=ConfigMode.MIRROR, outgoing=False, dns=False)
OFF = Fixes(profile="profile mirror-only", incoming=ConfigMode.OFF)
FS = policy(
    fs={"notFound": ["^/var/run/secrets/"], "local": ["\\.env$"], "readOnly": ["^/var/lib/"]}
)
DB = Connection(
    protocol=TransportProtocol.TCP, address="10.96.40.7", port=5432, hostname="payments-db"
)
WEB = Connection(protocol=TransportProtocol.TCP, address="10.96.41.9", port=80, hostname="web")
DNS = Connection(protocol=TransportProtocol.UDP, address="10.96.0.10", port=53)
HEADER: dict[str, Any] = {"network": {"incoming": {"httpFilter": {"headerFilter": "x-user: .+"}}}}


def _all() -> list[str | None]:
    def sub(
        mode: IncomingMode, flt: HttpFilter | None, fixes: Fixes | None = None, **spec: Any
    ) -> str | None:
        return subscribe_refusal(
            [policy(**spec)], mode=mode, http_filter=flt, target=T, fixes=fixes
        )

    def fs(path: str, write: bool) -> str | None:
        return file_open_refusal(file_rule([FS], path), path=path, write=write)

    return [
        sub(STEAL, None, block=["steal"]),
        sub(MIRROR, None, block=["mirror"]),
        sub(STEAL, None, block=["steal-without-filter"]),
        sub(STEAL, HttpFilter(path="/"), **HEADER),
        sub(STEAL, HttpFilter(header="x-user: a"), FIXED),
        sub(MIRROR, None, OFF),
        fs("/var/run/secrets/token", False),
        fs("/app/.env", False),
        fs("/var/lib/shop/db", True),
        outgoing_refusal([policy(network={"outgoing": {"allow": [{"hostname": "api"}]}})], WEB),
        outgoing_refusal(
            [policy(network={"outgoing": {"block": [{"hostname": "payments-db"}]}})], DB
        ),
        outgoing_refusal([], DNS, fixes=FIXED),
        dns_refusal("db.shop", fixes=FIXED),
        connect_refusal([policy(requireProfile=True)], profile=None, target=T),
        connect_refusal([policy(profileAllowlist=["mirror-only"])], profile="dev", target=T),
        scale_down_refusal([policy(block=["copy-target-scale-down"])], target=T),
    ]


def _documented() -> list[str]:
    text = DOC.read_text()
    block = text.split("<!-- refusals: begin -->")[1].split("<!-- refusals: end -->")[0]
    return [line.removeprefix("- `").removesuffix("`") for line in block.strip().splitlines()]


def test_the_docs_list_every_refusal_as_the_code_words_it() -> None:
    assert _documented() == _all()
