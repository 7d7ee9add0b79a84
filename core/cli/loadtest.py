"""Many reviewer processes deciding at once against one review log; checks that no decision is lost.

    steelscan loadtest --database-url postgresql+psycopg://... [--processes 8 --decisions 250]
"""

from __future__ import annotations

import argparse
import tempfile

from core.review.loadtest import run_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=250)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as store:
        result = run_load(args.database_url, store, args.processes, args.decisions)
    print(result.line())
    for error in result.errors[:5]:
        print(f"  error: {error}")
    ok = result.found == result.distinct == result.written == result.expected and not result.errors
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
