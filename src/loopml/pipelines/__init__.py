"""Pipelines: ``@step`` functions composed by ``@pipeline`` into a DAG, linted before they
run, cached by code, inputs and parameters, retried with backoff, and run in-process, on a
process pool or on Ray. See docs/pipelines.md.

    from loopml.pipelines import pipeline, step

    @step
    def load(n: int) -> pd.DataFrame: ...

    @pipeline
    def training(n: int = 1000):
        load(n)

    result = training.run({"n": 500}, executor="process")
"""

from loopml.pipelines._dsl import Pipeline, Resources, Step, from_spec, pipeline, step
from loopml.pipelines._engine import PipelineRunResult, RunHandle, resume, run, start
from loopml.pipelines._lint import PipelineLintError, lint
from loopml.pipelines._refs import load_pipeline
from loopml.pipelines._registry import PipelineRegistry
from loopml.pipelines.distributed import TorchDDP, train_context
from loopml.pipelines.executors import EXECUTORS, Executor, get_executor

__all__ = [
    "EXECUTORS", "Executor", "Pipeline", "PipelineLintError", "PipelineRegistry", "PipelineRunResult", "Resources",
    "RunHandle", "Step", "from_spec", "get_executor", "lint", "load_pipeline", "pipeline",
    "resume", "run", "start", "step", "TorchDDP", "train_context",
]
