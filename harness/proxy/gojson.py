"""Go `encoding/json` behaviour, as far as the Toxiproxy API exposes it.

Toxiproxy answers bad bodies with the Go decoder's own error text
(`bad request body: json: cannot unmarshal ...`), and clients compare those
strings. So this module reproduces the three Go behaviours that reach the
wire: the streaming decoder's syntax errors (first bad byte, then `EOF` /
`unexpected EOF`), typed decoding into Go structs (case-insensitive keys,
`null` leaves defaults, the *first* type error wins, messages name the
innermost struct and the full field path), and the encoder's string and
float32 formatting.
"""

from __future__ import annotations

import codecs
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

# A parsed JSON value. Objects keep duplicate keys and order, numbers keep their
# literal text: Go decodes both of those differently from Python's json module.
Kind = Literal["obj", "arr", "str", "num", "bool", "null"]


@dataclass(slots=True)
class Node:
    """A parsed JSON value that keeps what Python's json drops:
    duplicate keys, key order, number text."""

    kind: Kind
    value: Any  # obj: list[tuple[str, Node]]; arr: list[Node]; str/num: str; bool: bool


class GoJSONError(Exception):
    """A decode error, worded exactly as Go's encoding/json would."""


MAX_DEPTH = 10000
_SPACE = b" \t\r\n"
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")


def _quote_char(c: int) -> str:
    # Go formats the offending *byte* as if it were a rune (Latin-1 view).
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    specials = {
        7: "\\a",
        8: "\\b",
        12: "\\f",
        10: "\\n",
        13: "\\r",
        9: "\\t",
        11: "\\v",
        92: "\\\\",
    }
    if c in specials:
        return "'" + specials[c] + "'"
    if c < 0x20 or c == 0x7F:
        return f"'\\x{c:02x}'"
    ch = chr(c)
    if c < 0x80 or ch.isprintable():
        return "'" + ch + "'"
    return f"'\\u{c:04x}'"


def _syntax(c: int, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {_quote_char(c)} {context}")


def _go_replace(err: UnicodeError) -> tuple[str, int]:
    # Go replaces each undecodable byte on its own, Python a maximal run.
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd", err.start + 1


codecs.register_error("go-replace", _go_replace)

_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}


def _unquote(raw: bytes) -> str:
    """Decode the inside of a scanned string literal like Go's unquote."""
    if b"\\" not in raw:
        return raw.decode("utf-8", "go-replace")
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        j = raw.find(b"\\", i)
        if j < 0:
            out.append(raw[i:].decode("utf-8", "go-replace"))
            break
        if j > i:
            out.append(raw[i:j].decode("utf-8", "go-replace"))
        esc = raw[j + 1]
        if esc != ord("u"):
            out.append(_ESCAPES[esc])
            i = j + 2
            continue
        code = int(raw[j + 2 : j + 6], 16)
        i = j + 6
        if 0xD800 <= code < 0xE000:
            # A valid surrogate pair combines; anything else becomes U+FFFD and
            # the following escape is decoded on its own.
            if (
                code < 0xDC00
                and raw[i : i + 2] == b"\\u"
                and len(raw) >= i + 6
                and all(b in _HEX for b in raw[i + 2 : i + 6])
            ):
                low = int(raw[i + 2 : i + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                    i += 6
                    continue
            out.append("\ufffd")
            continue
        out.append(chr(code))
    return "".join(out)


_STR_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_NUM = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WS = re.compile(rb"[ \t\r\n]*")


class _Parser:
    """Reads the first JSON value of a body the way Go's json.Decoder does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def _eof(self) -> GoJSONError:
        # The decoder reached the end of the body inside a value.
        return GoJSONError("unexpected EOF")

    def _skip_ws(self) -> None:
        m = _WS.match(self.data, self.pos)
        assert m is not None
        self.pos = m.end()

    def _peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def parse(self) -> Node:
        self._skip_ws()
        if self.pos >= len(self.data):
            raise GoJSONError("EOF")
        return self._value("looking for beginning of value")

    def _push(self, c: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _syntax(c, "exceeded max depth")

    def _value(self, context: str) -> Node:
        # Containers are handled with an explicit stack: Go allows 10000 levels.
        stack: list[tuple[Node, str | None]] = []
        while True:
            self._skip_ws()
            c = self._next_byte()
            if c in (ord("{"), ord("[")):
                opened = self._open(c, stack)
                if opened is None:
                    continue  # a container began: read its first member
                node = opened
            else:
                node = self._scalar(c, context)
            done = self._attach(stack, node)
            if done is not None:
                return done

    def _next_byte(self) -> int:
        c = self._peek()
        if c is None:
            raise self._eof()
        return c

    def _open(self, c: int, stack: list[tuple[Node, str | None]]) -> Node | None:
        """An empty container, or None with the one just opened pushed on ``stack``."""
        kind: Literal["obj", "arr"] = "obj" if c == ord("{") else "arr"
        close = ord("}") if kind == "obj" else ord("]")
        self._push(c)
        self.pos += 1
        self._skip_ws()
        c2 = self._next_byte()
        if c2 == close:
            self.pos += 1
            self.depth -= 1
            return Node(kind, [])
        stack.append((Node(kind, []), self._key(c2) if kind == "obj" else None))
        return None

    def _attach(self, stack: list[tuple[Node, str | None]], node: Node) -> Node | None:
        """Add a finished value to its container, closing containers as far as possible.

        Returns the whole value once the outermost container closes (or when
        there is none), else None: another member follows.
        """
        while stack:
            parent, pending_key = stack[-1]
            if parent.kind == "obj":
                assert pending_key is not None
                parent.value.append((pending_key, node))
            else:
                parent.value.append(node)
            self._skip_ws()
            c = self._next_byte()
            if c == ord(","):
                self.pos += 1
                if parent.kind == "obj":
                    self._skip_ws()
                    stack[-1] = (parent, self._key(self._next_byte()))
                return None
            if c == (ord("}") if parent.kind == "obj" else ord("]")):
                self.pos += 1
                self.depth -= 1
                stack.pop()
                node = parent
                continue
            raise _syntax(
                c, "after object key:value pair" if parent.kind == "obj" else "after array element"
            )
        return node

    def _key(self, c: int) -> str:
        if c != ord('"'):
            raise _syntax(c, "looking for beginning of object key string")
        key = self._string()
        self._skip_ws()
        c1 = self._peek()
        if c1 is None:
            raise self._eof()
        if c1 != ord(":"):
            raise _syntax(c1, "after object key")
        self.pos += 1
        return key

    def _string(self) -> str:
        data = self.data
        start = self.pos + 1
        i = start
        while True:
            m = _STR_RUN.match(data, i)
            assert m is not None
            i = m.end()
            if i >= len(data):
                raise self._eof()
            c = data[i]
            if c == ord('"'):
                self.pos = i + 1
                return _unquote(data[start:i])
            if c < 0x20:
                raise _syntax(c, "in string literal")
            # A backslash escape.
            if i + 1 >= len(data):
                raise self._eof()
            e = data[i + 1]
            if e in b'"\\/bfnrt':
                i += 2
                continue
            if e != ord("u"):
                raise _syntax(e, "in string escape code")
            for k in range(i + 2, i + 6):
                if k >= len(data):
                    raise self._eof()
                if data[k] not in _HEX:
                    raise _syntax(data[k], "in \\u hexadecimal character escape")
            i += 6

    def _literal(self, word: bytes, value: Node) -> Node:
        data = self.data
        for k in range(1, len(word)):
            p = self.pos + k
            if p >= len(data):
                raise self._eof()
            if data[p] != word[k]:
                name = word.decode()
                raise _syntax(data[p], f"in literal {name} (expecting '{chr(word[k])}')")
        self.pos += len(word)
        return value

    def _scalar(self, c: int, context: str) -> Node:
        if c == ord('"'):
            return Node("str", self._string())
        if c == ord("t"):
            return self._literal(b"true", Node("bool", True))
        if c == ord("f"):
            return self._literal(b"false", Node("bool", False))
        if c == ord("n"):
            return self._literal(b"null", Node("null", None))
        if c == ord("-") or c in _DIGITS:
            return self._number()
        raise _syntax(c, context)

    def _number(self) -> Node:
        data = self.data
        m = _NUM.match(data, self.pos)
        if m is not None and m.end() < len(data) and data[m.end()] not in b".eE":
            # A complete number followed by some byte: valid iff that byte is
            # not something the number grammar could still be waiting for.
            self.pos = m.end()
            return Node("num", m.group().decode())
        # Walk Go's number states to find the error or the truncation.
        i = self.pos
        n = len(data)

        def at(k: int) -> int | None:
            return data[k] if k < n else None

        if data[i] == ord("-"):
            i += 1
            c = at(i)
            if c is None:
                raise self._eof()
            if c not in _DIGITS:
                raise _syntax(c, "in numeric literal")
        if data[i] == ord("0"):
            i += 1
        else:
            while at(i) is not None and at(i) in _DIGITS:
                i += 1
        if at(i) == ord("."):
            i += 1
            c = at(i)
            if c is None:
                raise self._eof()
            if c not in _DIGITS:
                raise _syntax(c, "after decimal point in numeric literal")
            while at(i) is not None and at(i) in _DIGITS:
                i += 1
        if at(i) in (ord("e"), ord("E")):
            i += 1
            if at(i) in (ord("+"), ord("-")):
                i += 1
            c = at(i)
            if c is None:
                raise self._eof()
            if c not in _DIGITS:
                raise _syntax(c, "in exponent of numeric literal")
            while at(i) is not None and at(i) in _DIGITS:
                i += 1
        # A number that runs to the end of the body is complete: the decoder
        # feeds a virtual space at EOF.
        text = data[self.pos : i].decode()
        self.pos = i
        return Node("num", text)


def parse(data: bytes) -> Node:
    """The first JSON value in `data`; trailing bytes are ignored as Go does."""
    return _Parser(data).parse()


# ---------------------------------------------------------------- typed decode


@dataclass(frozen=True, slots=True)
class GoField:
    """One field of a Go struct the API decodes into, by its JSON name and Go type."""

    json_name: str
    go_type: str  # "string", "bool", "int64", "int", "float32", "*bool", "logger", "iface"
    struct: GoStruct | None = None  # the concrete struct behind an "iface" field


@dataclass(frozen=True, slots=True)
class GoStruct:
    """The Go struct a body decodes into, so type errors name it as encoding/json does."""

    name: str  # reflect.Type.Name(): "" for anonymous structs
    type_string: str  # reflect.Type.String(), used when no field context exists
    fields: tuple[GoField, ...] = field(default=())


def _fold(name: str) -> str:
    # encoding/json's foldName: ASCII upper-casing plus the two non-ASCII runes
    # that fold onto ASCII letters (long s and the Kelvin sign).
    if name.isascii():
        return name.upper()
    out = []
    for ch in name:
        if ch.isascii():
            out.append(ch.upper())
        elif ch == "\u017f":
            out.append("S")
        elif ch == "\u212a":
            out.append("K")
        else:
            out.append(ch)
    return "".join(out)


class _Decoder:
    def __init__(self) -> None:
        self.first_error: str | None = None

    def type_error(
        self, value: str, go_type: str, struct_name: str | None, path: list[str]
    ) -> None:
        if self.first_error is not None:
            return
        if struct_name is None and not path:
            msg = f"json: cannot unmarshal {value} into Go value of type {go_type}"
        else:
            msg = (
                f"json: cannot unmarshal {value} into Go struct field "
                f"{struct_name or ''}.{'.'.join(path)} of type {go_type}"
            )
        self.first_error = msg

    def struct(
        self, node: Node, st: GoStruct, out: dict[str, Any], ctx: str | None, path: list[str]
    ) -> None:
        if node.kind == "null":
            return
        if node.kind != "obj":
            kind = {"arr": "array", "str": "string", "num": "number", "bool": "bool"}[node.kind]
            self.type_error(kind, st.type_string, ctx, path)
            return
        exact = {f.json_name: f for f in st.fields}
        folded = {_fold(f.json_name): f for f in st.fields}
        for key, value in node.value:
            f = exact.get(key) or folded.get(_fold(key))
            if f is None:
                continue
            self.field(value, f, out, st.name, [*path, f.json_name])

    def field(self, node: Node, f: GoField, out: dict[str, Any], ctx: str, path: list[str]) -> None:
        t = f.go_type
        name = f.json_name
        if t == "iface":
            assert f.struct is not None
            if node.kind == "null":
                return  # the interface is cleared; the concrete value keeps its contents
            sub = out.setdefault(name, {})
            self.struct(node, f.struct, sub, ctx, path)
            return
        if t == "logger":
            # *zerolog.Logger: a struct without exported fields.
            if node.kind in ("obj", "null"):
                return
            kind = {"arr": "array", "str": "string", "num": "number", "bool": "bool"}[node.kind]
            self.type_error(kind, "zerolog.Logger", ctx, path)
            return
        if node.kind == "null":
            if t == "*bool":
                out[name] = None
            return
        if t in ("bool", "*bool"):
            if node.kind == "bool":
                out[name] = node.value
            else:
                self.type_error(_value_name(node), "bool", ctx, path)
            return
        if t == "string":
            if node.kind == "str":
                out[name] = node.value
            else:
                self.type_error(_value_name(node), "string", ctx, path)
            return
        if t in ("int64", "int"):
            if node.kind == "num":
                v = _parse_int(node.value)
                if v is None:
                    self.type_error("number " + node.value, t, ctx, path)
                else:
                    out[name] = v
            else:
                self.type_error(_value_name(node), t, ctx, path)
            return
        if t == "float32":
            if node.kind == "num":
                fv = parse_float32(node.value)
                if fv is None:
                    self.type_error("number " + node.value, t, ctx, path)
                else:
                    out[name] = fv
            else:
                self.type_error(_value_name(node), t, ctx, path)
            return
        raise AssertionError(f"unknown Go type {t}")


def _value_name(node: Node) -> str:
    return {"arr": "array", "obj": "object", "str": "string", "num": "number", "bool": "bool"}[
        node.kind
    ]


_INT_RE = re.compile(r"-?[0-9]+\Z")


def _parse_int(text: str) -> int | None:
    if not _INT_RE.match(text):
        return None
    v = int(text)
    if -(1 << 63) <= v < (1 << 63):
        return v
    return None


def to_float32(value: float) -> float:
    """Round a double to the nearest float32, as Go's float32() conversion does."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def parse_float32(text: str) -> float | None:
    """strconv.ParseFloat(text, 32), or None where Go reports a range error."""
    try:
        v = float(text)
    except ValueError:
        return None
    if math.isinf(v):
        return None
    try:
        return to_float32(v)
    except OverflowError:
        return None


def decode_struct(body: bytes, st: GoStruct) -> dict[str, Any]:
    """Decode `body` into the Go struct `st`; only keys present are returned.

    Raises GoJSONError with Go's message (without the API's prefix).
    """
    node = parse(body)
    dec = _Decoder()
    out: dict[str, Any] = {}
    dec.struct(node, st, out, None, [])
    if dec.first_error is not None:
        raise GoJSONError(dec.first_error)
    return out


def decode_struct_slice(body: bytes, st: GoStruct, slice_type: str) -> list[dict[str, Any]] | None:
    """Decode a JSON array of `st` (None for `null`)."""
    node = parse(body)
    dec = _Decoder()
    if node.kind == "null":
        return None
    if node.kind != "arr":
        dec.type_error(_value_name(node), slice_type, None, [])
        raise GoJSONError(dec.first_error or "")
    items: list[dict[str, Any]] = []
    for element in node.value:
        out: dict[str, Any] = {}
        dec.struct(element, st, out, None, [])
        items.append(out)
    if dec.first_error is not None:
        raise GoJSONError(dec.first_error)
    return items


# ---------------------------------------------------------------- encoding

_ENC_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_ENC_NEEDS = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _enc_char(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _ENC_ESCAPES:
        return _ENC_ESCAPES[ch]
    if "\ud800" <= ch <= "\udfff":
        # Undecodable bytes (kept as surrogates): Go writes the escape, not the rune.
        return "\\ufffd"
    return f"\\u{ord(ch):04x}"


def encode_string(s: str) -> str:
    """A JSON string literal as Go's json.Marshal writes it (HTML-safe)."""
    return '"' + _ENC_NEEDS.sub(_enc_char, s) + '"'


_F32_1E_6 = to_float32(1e-6)
_F32_1E21 = to_float32(1e21)


def format_float32(value: float) -> str:
    """Go's json encoding of a float32: shortest round-trip form, 'e' outside [1e-6, 1e21)."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, exp = _shortest32(abs(value))
    sign = "-" if value < 0 else ""
    a = abs(value)
    if a < _F32_1E_6 or a >= _F32_1E21:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = exp - 1
        es = f"{'-' if e < 0 else '+'}{abs(e):02d}"
        if es.startswith("-0"):
            es = "-" + es[2:]
        return f"{sign}{mant}e{es}"
    # Decimal point sits after `exp` digits.
    if exp <= 0:
        return f"{sign}0.{'0' * -exp}{digits}"
    if exp >= len(digits):
        return f"{sign}{digits}{'0' * (exp - len(digits))}"
    return f"{sign}{digits[:exp]}.{digits[exp:]}"


def _shortest32(a: float) -> tuple[str, int]:
    """Shortest digits d and exponent e with 0.d × 10^e reading back as the float32 `a`."""
    for prec in range(1, 10):
        best: tuple[float, str, int] | None = None
        text = f"{a:.{prec - 1}e}"
        mant, exp_s = text.split("e")
        base_digits = int(mant.replace(".", ""))
        exp10 = int(exp_s) - (prec - 1)
        for cand in (base_digits - 1, base_digits, base_digits + 1):
            if cand <= 0:
                continue
            value = float(f"{cand}e{exp10}")
            try:
                if to_float32(value) != a:
                    continue
            except OverflowError:
                continue
            dist = abs(value - a)
            if best is None or dist < best[0]:
                s = str(cand)
                best = (dist, s, exp10 + len(s))
        if best is not None:
            digits = best[1].rstrip("0") or "0"
            return digits, best[2]
    s = f"{a:.8e}"
    mant, exp_s = s.split("e")
    digits = mant.replace(".", "").rstrip("0")
    return digits, int(exp_s) + 1


def struct_type_string(fields: list[tuple[str, str, str]]) -> str:
    """reflect's String() for an anonymous struct: `struct { A int "json:\\"a\\"" }`."""
    parts = []
    for name, go_type, tag in fields:
        if tag:
            quoted = '"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{name} {go_type} {quoted}" if name else f"{go_type} {quoted}")
        else:
            parts.append(f"{name} {go_type}" if name else go_type)
    return "struct { " + "; ".join(parts) + " }"
