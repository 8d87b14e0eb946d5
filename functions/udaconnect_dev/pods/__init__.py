"""The cluster's pods run here with podman: the images (images), the kubelet's reading of a rendered pod spec
as `podman run` (kubelet), and the pods started, probed and stopped (pods)."""
