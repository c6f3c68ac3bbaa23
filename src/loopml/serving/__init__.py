"""Model serving: Open Inference Protocol V2 (REST + gRPC), MLflow /invocations, adaptive
batching; it writes the inference log (``loopml.inference_log``). ``loopml serve`` is the
entry point."""

__all__: list[str] = []  # a namespace: import the modules
