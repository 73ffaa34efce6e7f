"""Small kustomize and helm layouts written for these tests (the shapes of the
kustomize-guestbook and helm-guestbook examples, not their files)."""

from __future__ import annotations

KUSTOMIZE_GUESTBOOK = {
    "kustomize-guestbook/kustomization.yaml": """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namePrefix: kustomize-
        labels:
        - pairs: {tier: frontend}
        resources:
        - guestbook-ui-deployment.yaml
        - guestbook-ui-svc.yaml
        images:
        - name: registry.example/guestbook-ui
          newTag: "0.2"
        """,
    "kustomize-guestbook/guestbook-ui-deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: guestbook-ui
          labels: {app: guestbook-ui}
        spec:
          replicas: 1
          revisionHistoryLimit: 3
          selector:
            matchLabels: {app: guestbook-ui}
          template:
            metadata:
              labels: {app: guestbook-ui}
            spec:
              containers:
              - name: guestbook-ui
                image: registry.example/guestbook-ui:0.1
                ports: [{containerPort: 80}]
        """,
    "kustomize-guestbook/guestbook-ui-svc.yaml": """\
        apiVersion: v1
        kind: Service
        metadata:
          name: guestbook-ui
          labels: {app: guestbook-ui}
        spec:
          ports: [{port: 80, targetPort: 80}]
          selector: {app: guestbook-ui}
        """,
}

# An overlay on a base with a component, all in the repo.
KUSTOMIZE_OVERLAY = {
    "bases/web/kustomization.yaml": """\
        resources: [deployment.yaml, service.yaml]
        """,
    "bases/web/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: "nginx:1.25"}]
        """,
    "bases/web/service.yaml": """\
        apiVersion: v1
        kind: Service
        metadata: {name: web, labels: {app: web}}
        spec: {selector: {app: web}, ports: [{port: 80}]}
        """,
    "components/probes/kustomization.yaml": """\
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        patches:
        - path: probe.yaml
        """,
    "components/probes/probe.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers:
              - name: web
                readinessProbe: {httpGet: {path: /healthz, port: 80}}
        """,
    "overlays/prod/kustomization.yaml": """\
        resources: [../../bases/web]
        components: [../../components/probes]
        replicas: [{name: web, count: 3}]
        configMapGenerator:
        - name: web-settings
          files: [settings.properties]
        """,
    "overlays/prod/settings.properties": "colour=blue\n",
    "overlays/prod/app.yaml": "name: web\n",
}

HELM_GUESTBOOK = {
    "helm-guestbook/Chart.yaml": """\
        apiVersion: v2
        name: helm-guestbook
        description: a guestbook written for gitkube's tests
        version: 0.1.0
        appVersion: "1.0"
        """,
    "helm-guestbook/values.yaml": """\
        replicaCount: 1
        image:
          repository: registry.example/guestbook-ui
          tag: "0.1"
        service:
          port: 80
        """,
    "helm-guestbook/templates/_helpers.tpl": """\
        {{- define "guestbook.fullname" -}}
        {{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
        {{- end -}}
        """,
    "helm-guestbook/templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ include "guestbook.fullname" . }}
          labels:
            app.kubernetes.io/managed-by: {{ .Release.Service }}
            helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
        spec:
          replicas: {{ .Values.replicaCount }}
          selector:
            matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}}
          template:
            metadata:
              labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
            spec:
              containers:
              - name: guestbook
                image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
                ports: [{containerPort: 80}]
        """,
    "helm-guestbook/templates/service.yaml": """\
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ include "guestbook.fullname" . }}
          namespace: {{ .Release.Namespace }}
        spec:
          ports: [{port: {{ .Values.service.port }}, targetPort: 80}]
          selector: {app.kubernetes.io/instance: {{ .Release.Name }}}
        """,
}
