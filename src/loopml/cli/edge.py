"""``loopml edge ...``: bundles for devices and the device-side agent (docs/edge.md)."""

from __future__ import annotations

from pathlib import Path

import typer

edge_app = typer.Typer(help="Edge delivery: package a model for a target, run the agent on a device.",
                       no_args_is_help=True)


@edge_app.command("package")
def package_cmd(
    model_uri: str = typer.Argument(..., help="The model (usually the derived version `loopml target optimize` registered)."),
    target: str = typer.Option(..., "--target", help="Stored profile NAME[@VERSION], or a profile file."),
    out: Path = typer.Option(..., "--out", "-o", help="New bundle folder (OUT.tar.gz with --tarball)."),
    tarball: bool = typer.Option(False, "--tarball", help="Write a .tar.gz instead of a folder."),
    tracking_uri: str = typer.Option(None, help="Tracking URI (default: LOOPML_TRACKING_URI, else the local store)."),
) -> None:
    """Build a self-contained bundle: model, pinned requirements, serve.py (OIP V2 +
    /invocations + health + metrics) and a manifest of sha256 digests. Refuses a target the
    runtime cannot run on (exit 2, with the reason)."""
    from loopml.cli._common import tracking_client
    from loopml.edge.bundle import package
    from loopml.targets.profile import load_profile
    from loopml.targets.store import ProfileStore

    client = tracking_client(tracking_uri)
    if Path(target).is_file():
        profile, ref = load_profile(target), target
    else:
        profile, version = ProfileStore(client).get(target)
        ref = f"{profile.name}@{version}"
    path = package(model_uri, profile, out, tarball=tarball, profile_ref=ref)
    typer.echo(f"bundle {path} ({profile.hardware.cpu.arch}, target {ref})")


@edge_app.command("agent")
def agent_cmd(
    server: str = typer.Option(..., "--server", help="The central loopml server, e.g. http://10.0.0.2:5000."),
    deployment: str = typer.Option(..., "--deployment", help="The deployment whose (alias) route this device serves."),
    work_dir: Path = typer.Option(Path(".loopml-edge"), "--dir", file_okay=False, help="Models, state and the offline inference-log spool (a folder)."),
    name: str = typer.Option("model", help="Model name clients use (/v2/models/NAME/infer)."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8090, min=0, max=65535, help="Port to serve on (0: any free one)."),
    poll_seconds: float = typer.Option(2.0, min=0.05, help="How often to check the deployment."),
    upload_seconds: float = typer.Option(5.0, min=0.05, help="How often to upload the inference log."),
) -> None:
    """Serve the deployment's model on this device, pull new versions when its alias moves
    (verified by digest, swapped without dropping requests), and upload the inference log,
    buffering it while the server is unreachable."""
    from loopml.cli.server import is_loopback
    from loopml.edge.agent import EdgeAgent
    from loopml.store.deployments_base import _NAME as _DEPLOYMENT_NAME

    if not server.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{server!r} is not an http(s):// URL of a loopml server.",
                                 param_hint="--server")
    if not _DEPLOYMENT_NAME.match(deployment):
        raise typer.BadParameter(f"{deployment!r} is not a deployment name (letters, digits, "
                                 "'_', '-', '.'); list them with `loopml deployments list`.",
                                 param_hint="--deployment")

    if not is_loopback(host):
        typer.echo("Error: the edge agent binds loopback only in this version; put a proxy "
                   "with authentication in front of it for remote callers.", err=True)
        raise typer.Exit(2)
    agent = EdgeAgent(server, deployment, work_dir, name=name, poll_s=poll_seconds,
                      upload_s=upload_seconds)
    typer.echo(f"loopml edge agent {agent.agent_id}: deployment {deployment} from {server}, "
               f"serving on http://{host}:{port}")
    agent.run(host, port)


__all__ = ["edge_app"]
