#!/usr/bin/env bash
# Validates every manifest offline against the Kubernetes 1.31 schemas,
# rejecting unknown fields (kubernetes-validate from PyPI).
set -euo pipefail
cd "$(dirname "$0")"
command -v kubernetes-validate >/dev/null || pip install -q kubernetes-validate
find . -name '*.yaml' ! -name kustomization.yaml -print0 | xargs -0 kubernetes-validate --strict -k 1.31.0
