"""The Python way to run a demo scenario (the README's): `run_streaming_scenario(key, ...)`.

The scenarios are pipelines (pipelines/demo/*.yaml); their shapes are transforms in
pipelines/transforms.py; `pipelines.runner.run_pipeline` runs any pipeline the same way.
"""

from pipelines.runner import run_streaming_scenario

__all__ = ["run_streaming_scenario"]
