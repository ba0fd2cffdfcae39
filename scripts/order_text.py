"""The functions that executed in callgrind profiles (`--dump-instr=yes --compress-pos=no`),
by their symbol names, for the linker's `--symbol-ordering-file`.

Usage: order_text.py NM_OUTPUT BINARY PROFILE...   (writes the names to standard output)

Each executed instruction address of BINARY is mapped to the function symbol that contains it
(from `nm --defined-only`). Names are sorted, not ranked by cost: what saves memory is that the
code an invocation runs shares as few 64 KiB runs of pages as possible, not its order within
them; sorted, the list diffs cleanly between regenerations.
"""

import bisect
import re
import sys

OBJECT = re.compile(r"^(c?ob)=\((\d+)\)(?: (.*))?$")
POSITION = re.compile(r"^(0x[0-9a-f]+) ")


def functions(nm_path):
    symbols = []
    with open(nm_path) as nm:
        for line in nm:
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                symbols.append((int(parts[0], 16), parts[2]))
    symbols.sort()
    return [a for a, _ in symbols], [n for _, n in symbols]


def executed(profile, binary, starts, names):
    seen = set()
    object_names = {}
    in_binary = False
    with open(profile) as lines:
        for line in lines:
            line = line.rstrip("\n")
            object_line = OBJECT.match(line)
            if object_line:
                kind, number, name = object_line.groups()
                if name:
                    object_names[number] = name
                if kind == "ob":
                    in_binary = object_names.get(number) == binary
                continue
            position = POSITION.match(line)
            if in_binary and position:
                i = bisect.bisect_right(starts, int(position.group(1), 16)) - 1
                if i >= 0:
                    seen.add(names[i])
    return seen


def main():
    nm_path, binary, *profiles = sys.argv[1:]
    starts, names = functions(nm_path)
    seen = set()
    for profile in profiles:
        seen |= executed(profile, binary, starts, names)
    if not seen:
        sys.exit(f"no function of {binary} found in the profiles")
    sys.stdout.write("".join(f"{name}\n" for name in sorted(seen)))


if __name__ == "__main__":
    main()
