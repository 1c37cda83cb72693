"""The Python way to run a demo scenario (the README's): `run_streaming_scenario(key, ...)`.

The scenarios themselves are data in pipelines/catalog.py; their shapes are in
pipelines/transforms.py; the runner runs them.
"""

from pipelines.runner import run_streaming_scenario

__all__ = ["run_streaming_scenario"]
