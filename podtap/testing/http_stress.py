"""Many keep-alive HTTP/1.1 connections through a filtered port, checked byte for byte.

The agent must never reorder, drop or invent a byte of a teammate's request. This driver
sends, on each of ``connections`` keep-alive connections, ``rounds`` requests that alternate
at random between ones a filter matches (``x-user: alice``: the session answers) and ones
it does not (the real app answers), with bodies of random size, some of them shaped like
HTTP request heads (a body that the agent mistook for a head would be *executed* by the
app). Every request's bytes are cut at random places and written with short gaps, so heads
and bodies arrive split anywhere. Each answer must be exactly the one its request deserves:
the app's (``podtap.testing.testapp``) echoes the path, body size and SHA-256 it received;
the session's (:func:`alice_reply`) the same for what the session received.

Used by ``tests/agent/test_agent_fast_path_stress.py`` (bounded) and
``bench/fast_path_stress.py`` (long)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field

import h11

from podtap.testing.fakedev import Received, Reply

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\n\r\n"


async def alice_reply(ex: Received) -> Reply:
    """The session's answer: what it received, in the same shape as the app's."""
    answer = {
        "app": "alice",
        "path": ex.head.path,
        "size": ex.size,
        "sha256": ex.digest.hexdigest(),
    }
    return 200, [(b"content-type", b"application/json")], json.dumps(answer).encode()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One request and the answer it must get."""

    method: str
    path: str
    alice: bool
    body: bytes

    def expected(self, *, stolen: bool = True) -> dict[str, object]:
        """``stolen``: a session answers the requests that carry alice's header."""
        to_alice = self.alice and stolen
        answer: dict[str, object] = {"app": "alice" if to_alice else "web", "path": self.path}
        if self.method == "POST" or to_alice:
            answer["size"] = len(self.body)
            answer["sha256"] = hashlib.sha256(self.body).hexdigest()
        return answer


@dataclass
class StressResult:
    requests: int = 0
    matched: int = 0
    wrong: list[str] = field(default_factory=list)

    def merge(self, other: StressResult) -> None:
        self.requests += other.requests
        self.matched += other.matched
        self.wrong += other.wrong


def plan_request(rng: random.Random, *, conn: int, index: int, max_body: int) -> Plan:
    alice = rng.random() < 0.5
    method = rng.choice(["GET", "POST", "POST"])
    path = f"/upload?c={conn}&i={index}" if method == "POST" else f"/whoami?c={conn}&i={index}"
    body = b""
    if method == "POST":
        size = rng.choice([0, 1, rng.randrange(1, 4096), rng.randrange(1, max_body + 1)])
        if rng.random() < 0.3:  # a body that is itself a request head
            body = (SMUGGLED * (size // len(SMUGGLED) + 1))[: max(size, len(SMUGGLED))]
        else:
            body = rng.randbytes(size)
    return Plan(method=method, path=path, alice=alice, body=body)


def _cuts(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` in 1-4 pieces cut anywhere (one-byte pieces included)."""
    points = sorted({rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(0, 4))})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


def _encode(conn: h11.Connection, plan: Plan) -> bytes:
    headers = [("Host", "web")]
    if plan.alice:
        headers.append(("x-user", "alice"))
    if plan.method == "POST":
        headers.append(("Content-Length", str(len(plan.body))))
    out = conn.send(h11.Request(method=plan.method, target=plan.path, headers=headers)) or b""
    if plan.body:
        out += conn.send(h11.Data(data=plan.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


async def _answer(
    conn: h11.Connection, reader: asyncio.StreamReader, *, timeout: float
) -> tuple[int, bytes]:
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("the connection closed before the answer ended")


async def one_connection(
    *,
    host: str,
    port: int,
    conn_no: int,
    rounds: int,
    max_body: int,
    seed: int,
    timeout: float,
    stolen: bool,
) -> StressResult:
    rng = random.Random(seed * 1_000_003 + conn_no)
    result = StressResult()
    reader, writer = await asyncio.open_connection(host, port)
    conn = h11.Connection(h11.CLIENT)
    try:
        for index in range(rounds):
            plan = plan_request(rng, conn=conn_no, index=index, max_body=max_body)
            for piece in _cuts(rng, _encode(conn, plan)):
                writer.write(piece)
                await writer.drain()
                if rng.random() < 0.5:  # a gap: traffic shape, not synchronisation
                    await asyncio.sleep(rng.random() * 0.003)
            try:
                status, body = await _answer(conn, reader, timeout=timeout)
            except (ConnectionError, TimeoutError, h11.ProtocolError) as exc:
                result.wrong.append(f"{plan.method} {plan.path}: {type(exc).__name__} {exc}")
                return result
            result.requests += 1
            result.matched += plan.alice
            got, want = _summary(status, body), plan.expected(stolen=stolen)
            if got != want:
                result.wrong.append(f"{plan.method} {plan.path}: got {got}, want {want}")
                return result  # the connection's framing is lost: stop here
            conn.start_next_cycle()
    finally:
        writer.close()
    return result


def _summary(status: int, body: bytes) -> dict[str, object]:
    if status != 200:
        return {"status": status, "body": body[:200].decode("utf-8", "replace")}
    try:
        answer = json.loads(body)
    except ValueError:
        return {"status": status, "body": body[:200].decode("utf-8", "replace")}
    keep = ("path", "size", "sha256")
    # the app names itself by its pod ("web-…"), the session "alice"
    who = "alice" if answer.get("app") == "alice" else "web"
    return {"app": who} | {k: answer[k] for k in keep if k in answer}


async def stress(
    *,
    host: str,
    port: int,
    connections: int,
    rounds: int,
    max_body: int,
    seed: int,
    timeout: float = 20.0,
    stolen: bool = True,
) -> StressResult:
    """Run every connection at once; the merged result lists each wrong answer.
    ``stolen=False``: no session holds the port (alice's requests reach the app too)."""
    parts = await asyncio.gather(
        *(
            one_connection(
                host=host,
                port=port,
                conn_no=n,
                rounds=rounds,
                max_body=max_body,
                seed=seed,
                timeout=timeout,
                stolen=stolen,
            )
            for n in range(connections)
        )
    )
    total = StressResult()
    for part in parts:
        total.merge(part)
    return total


def main() -> None:
    """``python -m podtap.testing.http_stress HOST PORT CONNECTIONS ROUNDS MAX_BODY SEED
    stolen|direct``: one run, printed as JSON (the bench runs it in a client netns)."""
    import sys
    import time

    host, port, connections, rounds, max_body, seed, mode = sys.argv[1:8]
    started = time.monotonic()
    result = asyncio.run(
        stress(
            host=host,
            port=int(port),
            connections=int(connections),
            rounds=int(rounds),
            max_body=int(max_body),
            seed=int(seed),
            stolen=mode == "stolen",
        )
    )
    summary = {
        "requests": result.requests,
        "matched": result.matched,
        "wrong": len(result.wrong),
        "first_wrong": result.wrong[:3],
        "seconds": time.monotonic() - started,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
