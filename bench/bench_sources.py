"""Render time of kustomize and helm apps: `gitkube render` beside the tools alone.

    .venv/bin/python bench/bench_sources.py [--kustomize-apps 200] [--charts 50] [--runs 1]

Generates a repo of N kustomize apps (a kustomization with a namePrefix, an
image and a label over a Deployment and a Service) and M helm apps (each its
own chart directory in the repo, with a values file). Figures, best wall-clock
of --runs whole-process runs:

* `gitkube render --out` of the repo, cold (no render cache);
* `gitkube render` onto the rendered branch again after one kustomize app
  changed (the render cache re-renders that app only);
* the tools alone: `kustomize build` of every kustomize app plus `helm
  template` of every chart, one process each, as a CI script would run them.

The pinned tools from gitkube.testing.sourcetools are used (built if missing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitkube.testing.sourcetools import build

GITKUBE = [sys.executable, "-m", "gitkube"]
CONFIG = (
    "cluster: {name: bench, project: bench-proj, region: us-central1, zone: us-central1-b}\n"
    "namespace: default\n"
)
CHART_FILES = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "replicaCount: 1\nimage: {repository: nginx, tag: '1.25'}\n",
    "templates/_helpers.tpl": '{{- define "web.name" -}}{{ .Release.Name }}-web{{- end -}}\n',
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.name" . }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - {name: web, image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"}
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ include "web.name" . }}
  labels: {app: {{ .Release.Name }}}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80}]
""",
}


def kustomize_app(name: str) -> dict[str, str]:
    return {
        "kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n"
        "namePrefix: k-\nlabels: [{pairs: {tier: web}}]\n"
        "images: [{name: nginx, newTag: '1.27'}]\n",
        "deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: "nginx:1.25"}}]
""",
        "service.yaml": f"""\
apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}
""",
    }


def generate(root: Path, kustomize_apps: int, charts: int) -> tuple[list[str], list[str]]:
    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("gitkube.yaml", CONFIG)
    k_dirs, h_dirs = [], []
    for index in range(kustomize_apps):
        name = f"k{index:04d}"
        k_dirs.append(f"kustomize/{name}")
        for rel, text in kustomize_app(name).items():
            write(f"kustomize/{name}/{rel}", text)
    for index in range(charts):
        name = f"h{index:04d}"
        h_dirs.append(f"helm/{name}")
        for rel, text in CHART_FILES.items():
            write(f"helm/{name}/{rel}", text)
        write(
            f"helm/{name}/app.yaml",
            f"name: {name}\nsource: {{helm: {{chart: ., releaseName: {name}}}}}\n",
        )
    return k_dirs, h_dirs


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--kustomize-apps", type=int, default=200)
    parser.add_argument("--charts", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    tools = build()
    env = {**os.environ, "PATH": f"{tools}:{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        k_dirs, h_dirs = generate(repo, args.kustomize_apps, args.charts)
        out = Path(tmp) / "out"
        cold = []
        for _ in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)
            cold.append(timed([*GITKUBE, "render", str(repo), "--out", str(out)], repo, env))
        objects = sum(1 for p in out.rglob("*.yaml")) - 1

        def tools_alone() -> None:
            for directory in k_dirs:
                subprocess.run(
                    [str(tools / "kustomize"), "build", directory],
                    check=True,
                    cwd=repo,
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            for directory in h_dirs:
                name = directory.rsplit("/", 1)[1]
                subprocess.run(
                    [str(tools / "helm"), "template", name, directory],
                    check=True,
                    cwd=repo,
                    env=env,
                    stdout=subprocess.DEVNULL,
                )

        alone = []
        for _ in range(args.runs):
            started = time.perf_counter()
            tools_alone()
            alone.append(time.perf_counter() - started)

        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "bench"], cwd=repo, check=True)
        first = timed([*GITKUBE, "render"], repo, env)
        deployment = repo / k_dirs[0] / "deployment.yaml"
        deployment.write_text(deployment.read_text().replace("replicas: 1", "replicas: 2"))
        subprocess.run([*git, "commit", "-qam", "one app"], cwd=repo, check=True)
        warm = timed([*GITKUBE, "render"], repo, env)

    print(f"repo: {args.kustomize_apps} kustomize apps + {args.charts} charts, {objects} objects")
    print(f"gitkube render --out (cold, no cache):        {min(cold):7.2f} s")
    print(f"gitkube render onto the branch (first):        {first:7.2f} s")
    print(f"gitkube render after one app changed (cache):  {warm:7.2f} s")
    print(
        f"kustomize build x{len(k_dirs)} + helm template x{len(h_dirs)} alone: {min(alone):7.2f} s"
    )


if __name__ == "__main__":
    main()
