"""The Compute Engine sync target (plugin ``gce_target``): the client and the target."""
