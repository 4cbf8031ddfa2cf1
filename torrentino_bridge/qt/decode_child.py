"""Run as a script by decode.py (never imported): decode one large QT answer read from
stdin, bound its candidates, write the small result to stdout as JSON.

A script of its own, so the child starts with nothing but the standard library and the pure
candidates module beside it: no package import, no aiohttp, no pydantic.
Usage: python -I decode_child.py KEEP < body > result; exit status 2 when the body is not JSON.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from candidates import trim_answer  # importable through the path set above


def main() -> int:
    keep = int(sys.argv[1])
    body = sys.stdin.buffer.read()
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        sys.stderr.write(str(err)[:120])
        return 2
    sys.stdout.write(json.dumps(trim_answer(data, keep), allow_nan=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
