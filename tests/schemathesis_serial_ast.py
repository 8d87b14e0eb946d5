"""The schemathesis CLI with ``ast.parse`` serialised across its worker threads.

CPython 3.11.7 and older keep the AST constructor's recursion counter per interpreter, not per thread
(python/cpython#106905, fixed in 3.11.8): two threads parsing at once can fail with "SystemError: AST constructor
recursion depth mismatch". Hypothesis parses lambda sources to describe filtered strategies, from each of
schemathesis's workers, so an occasional run ended in a Runtime Error that said nothing about our API.
Run as ``python tests/schemathesis_serial_ast.py <st arguments>``."""
from __future__ import annotations

import ast
import sys
import threading
from typing import Any

_parsing = threading.RLock()
_parse = ast.parse


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _parsing:
        return _parse(*args, **kwargs)


if __name__ == "__main__":
    ast.parse = _serialised_parse  # type: ignore[assignment]
    from schemathesis.cli import schemathesis

    sys.argv[0] = "st"
    sys.exit(schemathesis())
