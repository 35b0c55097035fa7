"""A trace through the pipeline, every second of it, for tests that read the estimates."""

from __future__ import annotations

from edge.config import Config
from edge.estimate.estimator import EstimateSeconds
from edge.pipeline import Pipeline
from edge.sources.replay import batches
from edge.sources.trace import TraceReader


def estimated(reader: TraceReader, config: Config, *, this_mat: bool = False
              ) -> tuple[EstimateSeconds, Pipeline]:
    """The estimates of the whole trace, and the pipeline that made them (its state)."""
    pipeline = Pipeline.for_sources(reader.header.sources, config, this_mat=this_mat)
    parts = [pipeline.feed(batch)[0] for batch in batches(reader)] + [pipeline.finish()[0]]
    return EstimateSeconds.concat(parts), pipeline
