"""The smaller tools around the loop: `loopml lineage` for a model trained in a pipeline
step, and `loopml pipeline output` for a step's output (the model URI a script needs)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from loopml.cli.main import app
from tests.automation.conftest import World


def test_lineage_and_step_output_of_a_pipeline_trained_model(world: World) -> None:
    from loopml import models
    from tests.automation.flows import retrain

    res = retrain.run({"kind": "good", "rows": 300}, client=world.client)
    assert res.succeeded
    uri = res.output("register")["model_uri"]
    models.register_model(uri, "pm", client=world.client)
    db = f"sqlite:///{world.root / 'db.sqlite'}"
    runner = CliRunner()

    r = runner.invoke(app, ["lineage", "models:/pm/2", "--tracking-uri", db])
    assert r.exit_code == 0, r.output
    assert "pipeline step register" in r.output and "pipeline run" in r.output
    r = runner.invoke(app, ["lineage", "models:/pm/2", "--json", "--tracking-uri", db])
    kinds = {n["kind"] for n in json.loads(r.output)["nodes"]}
    assert {"pipeline_run", "pipeline_step", "model_version"} <= kinds

    r = runner.invoke(app, ["pipeline", "output", res.run_id, "register", "--key", "model_uri",
                            "--tracking-uri", db])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == uri
    r = runner.invoke(app, ["pipeline", "output", res.run_id, "nope", "--tracking-uri", db])
    assert r.exit_code == 1 and "no output 'output' of step 'nope'" in r.output
