"""The Kubernetes sync target (plugin ``kubernetes_target``): discovery, diff, the target."""
