"""What is wrong with a contract document: a dotted path and a message, and the refusal that carries them.

The lowest layer of the contracts app: parsing (odcs.py) and lint (lint.py) both speak it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a dotted path) and what."""

    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message


class ContractInvalid(ValueError):
    """The document cannot be used as a contract; `problems` says why."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def dotted(loc):
    """A pydantic/jsonschema location as the dotted path the admin shows: schema[0].properties[1].name."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "union[", "list[", "float", "int", "str")):
            path += f".{part}" if path else part
    return path
