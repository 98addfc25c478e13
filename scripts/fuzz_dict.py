#!/usr/bin/env python3
"""Writes a libFuzzer dictionary for one fuzz target: the string literals of the source files
it parses with (the keys, enum names and units the loaders look for), quoted as JSON keys and
bare, plus the syntax of JSON and CSV. Mutations then put a known key where a random byte string
would almost never land.   usage: fuzz_dict.py OUT.dict SOURCE.cpp..."""
import re
import sys

out, sources = sys.argv[1], sys.argv[2:]
words = set()
for path in sources:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for lit in re.findall(r'"((?:[^"\\\n]|\\.){1,48})"', text):
        if re.fullmatch(r"[A-Za-z0-9_.:/+-][A-Za-z0-9_.:/+ -]*", lit):
            words.add(lit)
tokens = ['{', '}', '[', ']', ':', ',', '"', 'true', 'false', 'null', '-1', '0', '1e400', '1e-400', '9223372036854775807',
          '18446744073709551616', '\n', '\r\n', '""', '{}', '[]']


def esc(s: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in s)


with open(out, "w", encoding="ascii") as f:
    for w in sorted(words):
        f.write(f'"{esc(w)}"\n')
        f.write(f'"{esc(chr(34) + w + chr(34) + ":")}"\n')
    for t in tokens:
        f.write(f'"{esc(t)}"\n')
