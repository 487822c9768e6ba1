#!/usr/bin/python3
"""Validates a JSON document against a JSON Schema (Debian's python3-jsonschema).

    /usr/bin/python3 tests/support/validate_json.py SCHEMA DOCUMENT
Exit 0 when valid; otherwise prints every error and exits 1.
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
document = json.load(open(sys.argv[2]))
validator = jsonschema.Draft202012Validator(schema)
errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
for error in errors:
    print(f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}")
sys.exit(1 if errors else 0)
