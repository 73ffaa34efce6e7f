"""Generate a config repo of N apps (a Deployment and a Service each) for benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

CONFIG = """\
cluster: {name: bench, project: bench-proj, region: us-central1, zone: us-central1-b}
namespace: default
"""

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - name: APP
          value: {name}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  ports:
  - port: 80
    targetPort: 80
"""

APP_YAML = "images:\n- {name: nginx, newName: gcr.io/bench-proj/nginx}\n"

KUSTOMIZATION = """\
resources: [all.yaml]
labels:
- pairs: {{app: {name}}}
  includeSelectors: true
  includeTemplates: true
images:
- {{name: nginx, newName: gcr.io/bench-proj/nginx}}
"""


def generate(root: Path, apps: int, *, kustomize: bool = False) -> Path:
    """Write ``apps`` apps under ``root`` (groups of 100); with ``kustomize`` also
    a kustomization per app and a root one listing them all, the same output
    kustomize users would build."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "gitkube.yaml").write_text(CONFIG)
    dirs = []
    for i in range(apps):
        name = f"app{i}"
        rel = f"group{i // 100}/{name}"
        app_dir = root / rel
        app_dir.mkdir(parents=True, exist_ok=True)
        (app_dir / "all.yaml").write_text(MANIFEST.format(name=name))
        (app_dir / "app.yaml").write_text(APP_YAML)
        if kustomize:
            (app_dir / "kustomization.yaml").write_text(KUSTOMIZATION.format(name=name))
        dirs.append(rel)
    if kustomize:
        listing = "".join(f"- {d}\n" for d in dirs)
        (root / "kustomization.yaml").write_text("resources:\n" + listing)
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("apps", type=int)
    parser.add_argument("--kustomize", action="store_true")
    args = parser.parse_args()
    generate(args.root, args.apps, kustomize=args.kustomize)
