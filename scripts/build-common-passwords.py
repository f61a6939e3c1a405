#!/usr/bin/env python3
"""Rebuilds crates/sealform-core/data/common-passwords.txt.

The list is the union, lower-cased, de-duplicated and sorted bytewise, of two MIT-licensed lists published on
crates.io: `passwords` 3.1.19 (data/common-passwords.json, ~100k entries) and `zxcvbn` 3.1.1 (the PASSWORDS list
in src/frequency_lists.rs, 30k entries). Fetch both (`cargo fetch` in any crate depending on them) and run:

    scripts/build-common-passwords.py ~/.cargo/registry/src/*/passwords-3.1.19 ~/.cargo/registry/src/*/zxcvbn-3.1.1
"""
import json
import pathlib
import re
import sys

passwords_dir, zxcvbn_dir = map(pathlib.Path, sys.argv[1:3])
entries = json.loads((passwords_dir / "data/common-passwords.json").read_text())
frequency = (zxcvbn_dir / "src/frequency_lists.rs").read_text()
entries += re.search(r'const PASSWORDS: &str = "(.*?)";', frequency, re.S).group(1).split(",")
unique = sorted({e.lower() for e in entries if e and "\n" not in e}, key=lambda e: e.encode())
out = pathlib.Path(__file__).resolve().parent.parent / "crates/sealform-core/data/common-passwords.txt"
out.write_text("\n".join(unique) + "\n")
print(f"{len(unique)} entries written to {out}")
