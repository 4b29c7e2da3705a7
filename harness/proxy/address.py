"""Go's address parsing (net.SplitHostPort and port lookup), with Go's error texts.

The API answers with these texts and the data plane uses the same parse to
bind listeners and dial upstreams, so both agree on what an address means.
"""

from __future__ import annotations

import socket


class AddressError(ValueError):
    """An address that cannot be parsed; the message reads like Go's."""


def _error(addr: str, why: str) -> AddressError:
    return AddressError(f"address {addr}: {why}" if addr else why)


def split_host_port(hostport: str) -> tuple[str, str]:
    """net.SplitHostPort: "h:p", "[v6]:p" or ":p"."""
    i = hostport.rfind(":")
    if i < 0:
        raise _error(hostport, "missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _error(hostport, "missing ']' in address")
        if end + 1 == len(hostport):
            raise _error(hostport, "missing port in address")
        if end + 1 != i:
            if hostport[end + 1] == ":":
                raise _error(hostport, "too many colons in address")
            raise _error(hostport, "missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise _error(hostport, "too many colons in address")
    if "[" in hostport[j:]:
        raise _error(hostport, "unexpected '[' in address")
    if "]" in hostport[k:]:
        raise _error(hostport, "unexpected ']' in address")
    return host, hostport[i + 1 :]


def port_number(service: str) -> int:
    """A port as Go reads it: digits (with an optional sign), or a service name."""
    if service == "":
        return 0
    digits = service
    negative = False
    if digits[0] in "+-":
        negative = digits[0] == "-"
        digits = digits[1:]
    if digits and digits.isascii() and digits.isdigit():
        n = min(int(digits), 0xFFFFFFFF)
        port = -n if negative else n
        if port < 0 or port > 0xFFFF:
            raise _error(str(port), "invalid port")
        return port
    try:
        return socket.getservbyname(service, "tcp")
    except (OSError, UnicodeError):
        raise AddressError(f"lookup tcp/{service}: unknown port") from None


def join_host_port(host: str, port: int) -> str:
    """An address the way Go prints it: "1.2.3.4:5", "[::1]:5"."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
