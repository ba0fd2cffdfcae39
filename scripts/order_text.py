"""The functions that executed in callgrind profiles (`--dump-instr=yes --compress-pos=no`) of
a binary, named by the linker's map of that binary (LLD's `-Map` with `--no-demangle`), for
the linker's `--symbol-ordering-file`.

Usage: order_text.py MAP BINARY PROFILE...   (writes the names to standard output)

The binary may be stripped: the map says where each function is. Each executed instruction
address of BINARY is given to the function that starts at or before it. Names are sorted, not
ranked by cost: what saves memory is that the code an invocation runs shares as few 64 KiB
runs of pages as possible, not its order within them; sorted, the list diffs cleanly.
"""

import bisect
import re
import sys

# `VMA LMA Size Align Symbol`: a symbol line of the map (section lines name an output section
# or an input file's section, `path:(.text.name)`).
MAP_LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S.*)$")
# LLD writes an output section's name after its alignment and one space, an input section
# eight columns further in, a symbol eight more.
OUTPUT_COLUMN_MAX = 53
SYMBOL_COLUMN_MIN = 61
OBJECT = re.compile(r"^(c?ob)=\((\d+)\)(?: (.*))?$")
POSITION = re.compile(r"^(0x[0-9a-f]+) ")


def functions(map_path):
    """(start, name) of every symbol in the map's `.text`, sorted by start."""
    symbols = []
    in_text = False
    with open(map_path) as lines:
        for line in lines:
            m = MAP_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            name = m.group(3).strip()
            # Output sections, input sections and symbols are told apart by their column.
            column = m.start(3)
            if column < OUTPUT_COLUMN_MAX:
                in_text = name == ".text"
            elif in_text and column >= SYMBOL_COLUMN_MIN:
                symbols.append((int(m.group(1), 16), name))
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
    map_path, binary, *profiles = sys.argv[1:]
    starts, names = functions(map_path)
    if not starts:
        sys.exit(f"{map_path}: no symbol in .text")
    seen = set()
    for profile in profiles:
        seen |= executed(profile, binary, starts, names)
    if not seen:
        sys.exit(f"no function of {binary} found in the profiles")
    sys.stdout.write("".join(f"{name}\n" for name in sorted(seen)))


if __name__ == "__main__":
    main()
