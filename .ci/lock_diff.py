"""Print the packages whose installed version (``pip freeze`` on stdin) differs from the lock (argv[1])."""

import re
import sys


def pins(lines):
    pinned = {}
    for line in lines:
        name, separator, version = line.strip().partition("==")
        if separator and not line.startswith("#"):
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pinned


with open(sys.argv[1], encoding="utf-8") as lock:
    locked = pins(lock)
here = pins(sys.stdin)
changed = [
    f"  {name}: {locked.get(name, '(not locked)')} -> {here.get(name, '(absent)')}"
    for name in sorted(set(locked) | set(here))
    if locked.get(name) != here.get(name)
]
print("\n".join(changed) or "  none")
