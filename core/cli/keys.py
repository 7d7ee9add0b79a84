"""API keys for line systems (the HTTP API, `steelscan api`).

    steelscan keys add NAME --scope record [--scope read]   # prints the key once; only its hash is stored
    steelscan keys revoke NAME
    steelscan keys list
    steelscan keys calls [NAME]                             # the calls made with each key

Scopes: score (inspect only), record (inspect and record in the review log; implies score), read (sheets,
queue, metrics).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from core.accounts.apikeys import SCOPES, ApiKeys
from core.accounts.auth import AuthError
from core.contract.settings import load_settings
from core.review.store.db import Database, StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: the settings' database_url")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="make a key and print it (once)")
    add.add_argument("name")
    add.add_argument("--scope", action="append", choices=SCOPES, required=True, help="repeat for several")
    sub.add_parser("revoke", help="stop a key working at once").add_argument("name")
    sub.add_parser("list")
    sub.add_parser("calls").add_argument("name", nargs="?")
    args = parser.parse_args(argv)
    try:
        database = Database(args.database_url or load_settings().database_url)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    keys = ApiKeys(database)
    try:
        if args.command == "add":
            key = keys.add(args.name, args.scope, created_by=f"cli:{getpass.getuser()}")
            print(key)
            print(f"key {args.name!r} ({', '.join(args.scope)}) made; it is shown only now: store it in the line "
                  "system's secrets", file=sys.stderr)
        elif args.command == "revoke":
            keys.revoke(args.name, revoked_by=f"cli:{getpass.getuser()}")
            print(f"key {args.name!r} revoked")
        elif args.command == "list":
            for row in keys.list():
                state = f"  (revoked {row['revoked_at']:%Y-%m-%d %H:%M})" if row["revoked_at"] else ""
                print(f"{row['name']}\t{row['scopes']}\t{row['created_by']}\t{row['created_at']:%Y-%m-%d}{state}")
        else:
            for call in keys.calls(args.name):
                print(f"{call['called_at']:%Y-%m-%d %H:%M:%S}\t{call['key']}\t{call['method']} {call['path']}\t"
                      f"{call['status']}\t{call['inference_id'] or '-'}\t{call['latency_ms']:.0f} ms")
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
