"""Edge delivery: self-contained bundles and the pull-based edge agent (docs/edge.md).

    from loopml import edge
    edge.package("models:/fraud/4", profile, "bundle/")   # folder with manifest + digests
    # on the device: loopml edge agent --server https://loopml.corp --deployment fraud-edge
"""

from loopml.edge.bundle import BundleRefused, package, verify_bundle

__all__ = ["BundleRefused", "package", "verify_bundle"]
