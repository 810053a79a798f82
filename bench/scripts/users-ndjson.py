#!/usr/bin/env python3
"""Writes N SCIM users as NDJSON (one RFC 7643 §8.2-shaped user of about 450 bytes per line, as an
export writes them), for timing `scim-fast import`:
    python3 bench/scripts/users-ndjson.py 1000000 > /tmp/users-1m.ndjson
"""
import json
import sys
import uuid

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
out = sys.stdout
for i in range(count):
    name = f"user{i:07d}"
    out.write(json.dumps({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": str(uuid.UUID(int=i + 1)),
        "externalId": f"ext-{i:07d}",
        "userName": f"{name}@example.com",
        "name": {"formatted": f"Ms. Barbara J Jensen {i}", "familyName": f"Jensen{i}", "givenName": "Barbara"},
        "displayName": f"Babs Jensen {i}",
        "title": "Engineer",
        "active": True,
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    }, separators=(",", ":")) + "\n")
