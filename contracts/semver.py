"""Semantic version numbers of contract versions: parsing, the bump between two numbers, and ranges.

Below 1.0.0 the left-most number that moves is the one that counts, as in npm's and Cargo's caret:
0.1.0 -> 0.2.0 is a major bump and 0.1.0 -> 0.1.1 a minor one (there is no room for a patch bump),
so `^0.1` never picks up 0.2.0. docs/contracts.md states the same rule for people.
"""

import re
from dataclasses import dataclass

BUMPS = ("none", "patch", "minor", "major")
VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class NotSemver(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Semver:
    major: int
    minor: int
    patch: int
    # A release sorts after its pre-releases: (1, "") > (0, "rc1").
    release: tuple = (1, "")

    @classmethod
    def parse(cls, text):
        match = VERSION.match(str(text).strip())
        if not match:
            raise NotSemver(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        major, minor, patch, pre = match.groups()
        return cls(int(major), int(minor), int(patch), (0, pre) if pre else (1, ""))

    def __str__(self):
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{self.release[1]}" if self.release[0] == 0 else "")


def bump_rank(bump):
    return BUMPS.index(bump)


def bump_between(old, new):
    """The bump from `old` to `new` ("major", "minor", "patch" or "none"); "none" also when `new` is not higher."""
    a, b = Semver.parse(old), Semver.parse(new)
    if b <= a:
        return "none"
    if a.major == 0 and b.major == 0:
        if b.minor != a.minor:
            return "major"
        return "minor" if b.patch != a.patch else "patch"
    if b.major != a.major:
        return "major"
    if b.minor != a.minor:
        return "minor"
    return "patch"
