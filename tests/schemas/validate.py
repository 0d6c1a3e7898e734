"""Validate JSON documents against one of ami-builder's schemas (schemas/).

    validate.py SCHEMA DOCUMENT...

SCHEMA is a file name in schemas/ (e.g. prune-plan.schema.json). The schemas
refer to each other by file name, resolved against their $id, so every schema
in the folder is registered. Exit 0 when every document is valid; 1, naming
each error with its JSON path, when one is not; 2 on bad arguments.
"""

import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "schemas"


def registry():
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema = json.loads((SCHEMAS / argv[1]).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, registry=registry())
    bad = 0
    for doc_path in argv[2:]:
        doc = json.loads(pathlib.Path(doc_path).read_text())
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            bad += 1
            where = "/".join(str(p) for p in err.absolute_path) or "(top)"
            print(f"{doc_path}: {where}: {err.message}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
