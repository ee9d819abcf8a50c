"""The Python peer: load the schema once, validate every file with jsonschema (iter_errors)."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
invalid = 0
for line in sys.stdin:
    with open(line.rstrip("\n")) as f:
        if any(True for _ in validator.iter_errors(json.load(f))):
            invalid += 1
print(f"invalid: {invalid}", file=sys.stderr)
