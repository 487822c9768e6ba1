#!/usr/bin/python3
"""Prints every document of a YAML file as one JSON list (Debian's python3-yaml), so the Rust
tests can check Kubernetes manifests with serde_json.

    /usr/bin/python3 tests/support/yaml_to_json.py FILE.yaml
"""
import json
import sys

import yaml

with open(sys.argv[1]) as f:
    print(json.dumps([d for d in yaml.safe_load_all(f) if d is not None]))
