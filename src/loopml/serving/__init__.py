"""Model serving: Open Inference Protocol V2 (REST + gRPC), MLflow /invocations, adaptive
batching, the inference log. ``loopml serve`` is the entry point."""
