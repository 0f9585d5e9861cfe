"""What the target container sees: its files, environment and name resolution."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path

from dnslib import QTYPE, RCODE, DNSRecord

from podtap.core.protocol import (
    DirEntry,
    FileClose,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadDir,
    FileReadDirResult,
    FileReadResult,
    FileStat,
    FileStatResult,
    FsError,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IpFamily,
    StatInfo,
)
from podtap.core.resolvconf import HostsFile, ResolvConf
from podtap.net.mounts import own_mounts
from podtap.net.rootfs import RootFs

FileRequest = FileOpen | FileRead | FileStat | FileReadDir | FileClose
FileReply = FileOpenResult | FileReadResult | FileStatResult | FileReadDirResult | None


def container_mounts(pid: int) -> list[str]:
    """The container's own mount points (its volumes), as paths inside the container."""
    try:
        theirs = Path(f"/proc/{pid}/mountinfo").read_text()
        ours = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    return own_mounts(theirs, host_mountinfo=ours)


def _fs_error(exc: OSError) -> FsError:
    code = exc.errno or errno.EIO
    return FsError(errno=code, message=exc.strerror or os.strerror(code))


class ContainerFiles:
    """One session's read-only view of the container's filesystem."""

    def __init__(self, root: str) -> None:
        self._fs = RootFs(root)

    def handle(self, req: FileRequest) -> FileReply:
        try:
            if isinstance(req, FileOpen):
                if req.flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
                    raise PermissionError(errno.EROFS, "remote files are read-only", req.path)
                return FileOpenResult(request=req.request, handle=self._fs.open(req.path))
            if isinstance(req, FileRead):
                data = self._fs.read(req.handle, offset=req.offset, size=req.size)
                return FileReadResult(request=req.request, data=data)
            if isinstance(req, FileStat):
                st = self._fs.stat(req.path, follow=req.follow_symlinks)
                return FileStatResult(
                    request=req.request,
                    stat=StatInfo(
                        mode=st.mode,
                        size=st.size,
                        mtime_ns=int(st.mtime * 1e9),
                        is_dir=st.is_dir,
                        is_link=st.is_link,
                        uid=st.uid,
                        gid=st.gid,
                    ),
                )
            if isinstance(req, FileReadDir):
                entries = []
                for name in self._fs.readdir(req.path):
                    try:
                        st = self._fs.stat(f"{req.path.rstrip('/')}/{name}", follow=False)
                        entries.append(DirEntry(name=name, is_dir=st.is_dir, is_link=st.is_link))
                    except OSError:
                        entries.append(DirEntry(name=name, is_dir=False, is_link=False))
                return FileReadDirResult(request=req.request, entries=tuple(entries))
            self._fs.close_handle(req.handle)
            return None
        except OSError as exc:
            err = _fs_error(exc)
            if isinstance(req, FileOpen):
                return FileOpenResult(request=req.request, handle=None, error=err)
            if isinstance(req, FileRead):
                return FileReadResult(request=req.request, data=b"", error=err)
            if isinstance(req, FileStat):
                return FileStatResult(request=req.request, stat=None, error=err)
            if isinstance(req, FileReadDir):
                return FileReadDirResult(request=req.request, entries=(), error=err)
            return None

    def close(self) -> None:
        self._fs.close()


class _DnsClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


async def _query(server: str, name: str, qtype: str, *, timeout: float) -> list[str] | None:
    """Addresses for `name`, [] if it exists without such records, None if NXDOMAIN."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_DnsClient, remote_addr=(server, 53))
    try:
        query = DNSRecord.question(name, qtype)
        transport.sendto(bytes(query.pack()))
        reply = DNSRecord.parse(await asyncio.wait_for(proto.answer, timeout))
    finally:
        transport.close()
    if reply.header.rcode == RCODE.NXDOMAIN:
        return None
    want = getattr(QTYPE, qtype)
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == want]


class PodResolver:
    """getaddrinfo as the pod would answer it: its /etc/hosts, then its resolv.conf."""

    def __init__(self, root: str, *, timeout: float = 3.0) -> None:
        self._root = root
        self._timeout = timeout

    def _files(self) -> tuple[ResolvConf, HostsFile]:
        fs = RootFs(self._root)
        try:
            resolv = ResolvConf.parse(fs.read_file("/etc/resolv.conf").decode(errors="replace"))
            try:
                hosts = HostsFile.parse(fs.read_file("/etc/hosts").decode(errors="replace"))
            except OSError:
                hosts = HostsFile()
        finally:
            fs.close()
        return resolv, hosts

    async def getaddrinfo(self, req: GetAddrInfoRequest) -> GetAddrInfoResponse:
        families = {IpFamily.IPV4: ["A"], IpFamily.IPV6: ["AAAA"]}.get(req.family, ["A", "AAAA"])
        literal = _literal(req.host)
        if literal is not None:
            return GetAddrInfoResponse(request=req.request, addresses=(literal,))
        try:
            resolv, hosts = self._files()
        except OSError as exc:
            return GetAddrInfoResponse(
                request=req.request, addresses=(), error=f"cannot read the pod's resolver: {exc}"
            )
        found = [(_family(a), a) for a in hosts.lookup(req.host)]
        found = [f for f in found if f[0] in {_FAMILY[q] for q in families}]
        if found:
            return GetAddrInfoResponse(request=req.request, addresses=tuple(found))
        for name in resolv.candidates(req.host):
            for server in resolv.nameservers or ("127.0.0.1",):
                try:
                    answers = [
                        (q, await _query(server, name, q, timeout=self._timeout)) for q in families
                    ]
                except (OSError, TimeoutError):
                    continue
                if all(a is None for _, a in answers):
                    break  # NXDOMAIN: next search candidate
                addrs = tuple((_FAMILY[q], ip) for q, a in answers for ip in a or [])
                if addrs:
                    return GetAddrInfoResponse(request=req.request, addresses=addrs)
                break
        return GetAddrInfoResponse(
            request=req.request, addresses=(), error=f"{req.host}: name or service not known"
        )


_FAMILY = {"A": IpFamily.IPV4, "AAAA": IpFamily.IPV6}


def _family(addr: str) -> IpFamily:
    return IpFamily.IPV6 if ":" in addr else IpFamily.IPV4


def _literal(host: str) -> tuple[IpFamily, str] | None:
    for fam, family in ((socket.AF_INET, IpFamily.IPV4), (socket.AF_INET6, IpFamily.IPV6)):
        try:
            socket.inet_pton(fam, host)
            return family, host
        except OSError:
            continue
    return None
