#!/usr/bin/env python3
"""A feira client in plain Python (standard library only), in the originals' language.

It speaks the protocol of docs/PROTOCOL.md: one request line, then data lines starting
with "* " and one final "OK ..." or "ERR CODE message" line. Compare it with seed 003's
client, which slept and hoped instead of framing replies.

    python3 examples/python/feira_client.py --addr 127.0.0.1:7878 --user alice --password alice-pass

Without --addr it uses $FEIRA_ADDR, as feira-server and feira-cli do, else 127.0.0.1:7878.
"""

import argparse
import os
import socket
import sys


class FeiraError(Exception):
    """The server answered ERR CODE message."""

    def __init__(self, code, message):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def quote(token):
    """Writes one token so that the server reads it back unchanged."""
    if token and not any(c in token for c in ' "\\') and all(c.isprintable() for c in token):
        return token
    escaped = (token.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def split(line):
    """Splits a data line into tokens (the inverse of quote)."""
    tokens, i = [], 0
    escapes = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    while i < len(line):
        if line[i] in " \t":
            i += 1
            continue
        token = []
        if line[i] == '"':
            i += 1
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                    token.append(escapes[line[i]])
                else:
                    token.append(line[i])
                i += 1
            i += 1
        else:
            while i < len(line) and line[i] not in " \t":
                token.append(line[i])
                i += 1
        tokens.append("".join(token))
    return tokens


class Client:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rwb")

    def call(self, *tokens):
        """Sends one request; returns (data rows, OK text) or raises FeiraError."""
        line = " ".join(quote(str(t)) for t in tokens) + "\n"
        self.file.write(line.encode("utf-8"))
        self.file.flush()
        rows = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise ConnectionError("the server closed the connection")
            text = raw.decode("utf-8").rstrip("\r\n")
            if text.startswith("* "):
                rows.append(split(text[2:]))
            elif text == "OK" or text.startswith("OK "):
                return rows, text[3:]
            elif text.startswith("ERR "):
                code, _, message = text[4:].partition(" ")
                raise FeiraError(code, message)
            else:
                raise ValueError(f"not a reply line: {text!r}")

    def close(self):
        try:
            self.call("QUIT")
        finally:
            self.sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default=os.environ.get("FEIRA_ADDR", "127.0.0.1:7878"),
                        help="the server (default: $FEIRA_ADDR, else 127.0.0.1:7878)")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", default="alice-pass")
    parser.add_argument("--buy", default="Maçã", help="product to order one unit of")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    client = Client(host, int(port))

    _, welcome = client.call("LOGIN", args.user, args.password)
    print(welcome)
    products, summary = client.call("PRODUCTS")
    for name, price, stock in products:
        print(f"  {name:<24} {price:>10} {stock:>8}")
    print(summary)
    order, text = client.call("ORDER", args.buy, 1)
    print(text)
    try:
        ((_user, balance),), _ = client.call("BALANCE")
        print("balance:", balance)
    except FeiraError as e:
        # A server without wallets answers UNKNOWN_COMMAND: say so and carry on.
        print("balance: not available:", e)
    # A refusal is an answer, not a crash: ordering a product that does not exist must
    # come back as ERR NOT_FOUND, and the connection goes on.
    try:
        client.call("ORDER", "No such product", 1)
        print('ordering "No such product" was accepted: expected ERR NOT_FOUND')
        return 1
    except FeiraError as e:
        verdict = "as expected" if e.code == "NOT_FOUND" else "expected NOT_FOUND"
        print(f'ordering "No such product" is refused with {e.code} ({verdict}): {e.message}')
        if e.code != "NOT_FOUND":
            return 1
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
