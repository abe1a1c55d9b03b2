"""Client sockets that note when a request left and when response bytes arrived, as the kernel saw it.

An asyncio agent learns that bytes arrived only when its event loop comes round to the
socket: after a long idle wait the process first has to be woken (several ms on a VM), and
a busy loop (a thousand journeys) runs other callbacks first. Neither is the target's time.
On Linux, `SO_TIMESTAMPNS` makes the kernel stamp each received segment; reading through
`recvmsg` hands that stamp over with the data. `TimedSocket` keeps the stamp of its latest
read (converted to `time.perf_counter`'s clock) and the moment the first bytes of a request
were handed to the kernel. Elsewhere, or should the kernel send no stamp, the moment of the
read is used instead: never worse than asyncio's own view.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from collections.abc import Iterable
from typing import Any

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python does not export it
KERNEL_STAMPS = sys.platform.startswith("linux")
_ANCILLARY_SIZE = socket.CMSG_SPACE(16) if KERNEL_STAMPS else 0
_TIMESPEC = struct.Struct("@qq")
_MAX_AGE_NS = 60 * 1_000_000_000  # a stamp older than a minute means the wall clock jumped: not used


class TimedSocket(socket.socket):
    """A socket whose reads note the kernel's arrival stamp and whose writes note a request's departure."""

    __slots__ = ("_answered", "received_at", "sent_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received_at = 0.0  # perf_counter time the bytes of the latest read reached the kernel
        self.sent_at = 0.0  # perf_counter time of the first write after the latest read
        self._answered = True

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _, _ = self.recvmsg(bufsize, _ANCILLARY_SIZE, flags)
        if data:
            self._arrived(ancillary)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        count, ancillary, _, _ = self.recvmsg_into([view[:nbytes] if nbytes else view], _ANCILLARY_SIZE, flags)
        if count:
            self._arrived(ancillary)
        return count

    def send(self, data: Any, flags: int = 0) -> int:
        self._departing()
        return super().send(data, flags)

    def sendmsg(self, buffers: Iterable[Any], ancdata: Iterable[Any] = (), flags: int = 0,
                address: Any = None) -> int:
        self._departing()
        if address is None:
            return super().sendmsg(buffers, ancdata, flags)
        return super().sendmsg(buffers, ancdata, flags, address)

    def _departing(self) -> None:
        if self._answered:
            self.sent_at = time.perf_counter()
            self._answered = False

    def _arrived(self, ancillary: list[tuple[int, int, bytes]]) -> None:
        now = time.perf_counter()
        self._answered = True
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                age_ns = time.time_ns() - (seconds * 1_000_000_000 + nanoseconds)
                if 0 <= age_ns < _MAX_AGE_NS:
                    self.received_at = now - age_ns / 1e9
                    return
        self.received_at = now


TCP_INFO = getattr(socket, "TCP_INFO", 11)  # Linux's value
_TCP_INFO_SIZE = 104  # up to tcpi_total_retrans; older kernels give fewer bytes
_RTT_OFFSET, _TOTAL_RETRANS_OFFSET = 68, 100  # struct tcp_info: tcpi_rtt (µs), tcpi_total_retrans


def handshake_rtt(sock: Any) -> float | None:
    """The connection's round-trip time as the kernel measured it, in seconds, right after connecting.

    Before any data is exchanged, `tcpi_rtt` is the handshake's own sample: from the SYN leaving
    to the SYN-ACK arriving, the network's time to connect whatever the event loop was doing
    meanwhile. None when unknown (not Linux, not a TCP socket) or when a segment had to be sent
    again (a lost SYN gives no sample: the caller's own clock is then the better figure)."""
    if not KERNEL_STAMPS or sock is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, AttributeError, ValueError):
        return None
    if len(info) < _RTT_OFFSET + 4:
        return None
    (rtt_us,) = struct.unpack_from("@I", info, _RTT_OFFSET)
    if len(info) >= _TOTAL_RETRANS_OFFSET + 4 and struct.unpack_from("@I", info, _TOTAL_RETRANS_OFFSET)[0]:
        return None
    return rtt_us / 1e6 if rtt_us else None


_keeper: socket.socket | None = None


def _keep_stamping_on() -> None:
    """Linux stamps received packets only while some socket asks for it, and starts doing so a
    moment after the first one asks (deferred work). Sockets that come and go would leave the
    first packets of many connections unstamped: one socket of our own keeps stamping on."""
    global _keeper
    if _keeper is None:
        keeper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        keeper.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        _keeper = keeper


def timed_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's `socket_factory`: a `TimedSocket` for one address, kernel stamps on where there are any."""
    family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = TimedSocket(family, kind, proto)
    if KERNEL_STAMPS:
        try:
            _keep_stamping_on()
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # no stamps: the read's own moment is used
    return sock


def socket_of(transport: Any) -> TimedSocket | None:
    """The `TimedSocket` under an asyncio transport (plain or TLS), if it is one."""
    wrapper = transport.get_extra_info("socket") if transport is not None else None
    sock = getattr(wrapper, "_sock", wrapper)  # asyncio hands out a TransportSocket around it
    return sock if isinstance(sock, TimedSocket) else None
