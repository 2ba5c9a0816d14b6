#!/usr/bin/env python3
"""Seed 004's gRPC client, done right: feira's store over gRPC with grpcio.

Seed 004 kept prices in floats and sent them as doubles; here money travels as int64
cents (proto/feira.proto says why) and is only turned into "2.50" for people. Every
refusal comes back as a gRPC status whose message starts with feira's own code
(docs/RPC.md has the table), so a script can tell INSUFFICIENT_STOCK from
INSUFFICIENT_FUNDS although both are FAILED_PRECONDITION.

The stubs (feira_pb2.py, feira_pb2_grpc.py) are generated from proto/feira.proto by
grpcio-tools; `make py-grpc` makes a virtual environment with grpcio in target/py-venv
and the stubs in target/py-grpc. Then, with `feira-server --grpc-addr 127.0.0.1:50051`
running (`make run-grpc`):

    FEIRA_PASSWORD=alice-pass target/py-venv/bin/python examples/python/grpc_client.py \\
        --addr 127.0.0.1:50051 --user alice products 2.50

Commands: products [max_price], product NAME, order NAME QUANTITY, orders,
restock NAME DELTA (admin), balance. Without a command it runs a short demo.
"""

import argparse
import getpass
import os
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.environ.get("FEIRA_GRPC_STUBS", os.path.join(HERE, "..", "..", "target", "py-grpc"))
sys.path.insert(0, STUBS)
try:
    import grpc
    import feira_pb2 as pb
    import feira_pb2_grpc as pb_grpc
except ImportError as e:
    sys.exit(f"grpc_client.py: {e}: run `make py-grpc` and use target/py-venv/bin/python")


def money(cents):
    """Cents as people read them: 250 -> "2.50". Exact: no float is involved."""
    return f"{cents // 100}.{cents % 100:02d}"


def cents(text):
    """"2.50" -> 250, exactly (Decimal, never float)."""
    return int(Decimal(text) * 100)


class Store:
    """A logged-in session: the stub, and the token sent with every call."""

    def __init__(self, addr, user, password):
        self.stub = pb_grpc.StoreStub(grpc.insecure_channel(addr))
        reply = self.stub.Login(pb.LoginRequest(user=user, password=password), timeout=30)
        # Every other call carries the token as `authorization: Bearer <token>`.
        self.metadata = [("authorization", f"Bearer {reply.token}")]

    def call(self, method, request):
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=30)


def run(store, words):
    """Runs one command and prints its answer."""
    verb, args = words[0], words[1:]
    if verb == "products":
        request = pb.ListProductsRequest()
        if args:
            request.max_price_cents = cents(args[0])
        for p in store.call("ListProducts", request).products:
            print(p.name, money(p.price_cents), p.stock)
    elif verb == "product":
        p = store.call("GetProduct", pb.GetProductRequest(name=args[0]))
        print(p.name, money(p.price_cents), p.stock)
    elif verb == "order":
        o = store.call("PlaceOrder", pb.PlaceOrderRequest(product=args[0], quantity=int(args[1])))
        print(f"order {o.id}: {o.quantity} x {o.product} = {money(o.total_cents)}")
    elif verb == "orders":
        for o in store.call("ListOrders", pb.ListOrdersRequest()).orders:
            print(o.id, o.product, o.quantity, money(o.total_cents), o.created_at)
    elif verb == "restock":
        p = store.call("Restock", pb.RestockRequest(name=args[0], delta=int(args[1])))
        print(f"stock of {p.name} is now {p.stock}")
    elif verb == "balance":
        b = store.call("Balance", pb.BalanceRequest())
        print(b.user, money(b.balance_cents))
    else:
        sys.exit(f"grpc_client.py: unknown command {verb!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="the gRPC door (host:port)")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--demo", action="store_true", help="run the demo (the default without a command)")
    parser.add_argument("command", nargs="*")
    options = parser.parse_args()
    password = os.environ.get("FEIRA_PASSWORD") or getpass.getpass(f"password for {options.user}: ")
    try:
        store = Store(options.addr, options.user, password)
    except grpc.RpcError as e:
        sys.exit(f"login refused: {e.code().name}: {e.details()}")
    if options.command and not options.demo:
        try:
            run(store, options.command)
        except grpc.RpcError as e:
            # The status code for tools, feira's code first in the message for people.
            sys.exit(f"refused: {e.code().name}: {e.details()}")
        return
    # Seed 004's session: what costs at most 2.50, buy some, ask for what is not there.
    for words in [["products", "2.50"], ["order", "Maçã", "2"], ["product", "Kiwi"], ["balance"]]:
        try:
            run(store, words)
        except grpc.RpcError as e:
            print(f"refused: {e.code().name}: {e.details()}")

if __name__ == "__main__":
    main()
