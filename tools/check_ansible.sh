#!/usr/bin/env bash
# The Ansible role as CI checks it:
#   tools/check_ansible.sh            ansible-lint (production profile), --syntax-check,
#                                     and --check runs of the playbook against localhost
#                                     (as it is, and with the fleet watcher on)
#   tools/check_ansible.sh --apply    also applies it to this machine twice (the second run
#                                     must change nothing), then offers it a bad configuration
#                                     (must fail before the installed file is touched).
#                                     --apply installs the agent here: throwaway machines only.
# ansible-core and ansible-lint live in .cache/ansible-venv, not in the project's .venv.
# systemd is not PID 1 on these machines, so the service itself is not managed
# (sysops_agent_manage_service=false); everything else runs for real.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
apply=false
[ "${1:-}" = "--apply" ] && apply=true

venv=.cache/ansible-venv
if [ ! -x "$venv/bin/ansible-lint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'ansible-core==2.19.14' 'ansible-lint==26.10.1'
fi
export PATH="$PWD/$venv/bin:$PATH"
# The managed "host" is this machine through its system Python, which the apt
# module needs with its apt bindings.
target_python=/usr/bin/python3
[ -x "$target_python" ] && "$target_python" -c 'import apt' 2>/dev/null || apt_install python3 python3-apt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A reproducible wheel (same bytes for the same commit), as DEPLOYMENT.md builds it.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800) \
    .venv/bin/python -m pip wheel -q --disable-pip-version-check --no-deps -w "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/sysops_agent-*.whl)
cat > "$work/inventory.ini" <<INI
[sysops_agent]
localhost ansible_connection=local ansible_python_interpreter=$target_python
INI
# Stand-ins for the vault variables the example group_vars reference.
cat > "$work/vault.yml" <<YAML
vault_sysops_nats_token: ci-token
vault_sysops_slack_webhook_path: T000/B000/ci
vault_sysops_smtp_password: ci-password
YAML

cd deploy/ansible
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
echo "-- ansible-lint --profile production"
ansible-lint --profile production --strict
echo "-- ansible-playbook --syntax-check"
ansible-playbook -i "$work/inventory.ini" playbook.yml --syntax-check
play() {
    ansible-playbook -i "$work/inventory.ini" playbook.yml \
        -e @examples/group_vars/sysops_agent.yml -e @"$work/vault.yml" \
        -e sysops_agent_wheel="$wheel" -e sysops_agent_python="$target_python" \
        -e sysops_agent_manage_service=false "$@"
}
echo "-- ansible-playbook --check against localhost"
play --check | awk '/^TASK/ {task = $0} /^changed:/ {print task; print} /^localhost/ {print}'
# The fleet watcher is off by default (and not applied here: --apply stays the agent's);
# its tasks run in check mode with the example host's variables.
echo "-- ansible-playbook --check against localhost, with the fleet watcher on"
play --check -e @examples/host_vars/fleet-01.example.com.yml |
    awk '/^TASK/ {task = $0} /^changed:/ {print task; print} /^localhost/ {print}'

$apply || exit 0
recap() { grep -E '^localhost +:' "$1" | tr -s ' '; }
echo "-- apply (first run)"
play > "$work/first.log" || { cat "$work/first.log"; exit 1; }
recap "$work/first.log"
echo "-- apply again: idempotent"
play > "$work/second.log" || { cat "$work/second.log"; exit 1; }
recap "$work/second.log"
recap "$work/second.log" | grep -q ' changed=0 ' ||
    { grep -B2 '^changed:' "$work/second.log"; echo "second run changed something" >&2; exit 1; }
echo "-- installed agent validates its configuration as its own user"
setpriv --reuid sysops-agent --regid sysops-agent --init-groups \
    /opt/sysops-agent/bin/sysops-agent --validate --config /etc/sysops-agent/config.toml >/dev/null
[ "$(stat -c '%U:%G %a' /etc/sysops-agent/config.toml)" = "root:sysops-agent 640" ] ||
    { echo "config.toml has the wrong owner or mode" >&2; exit 1; }
echo "-- the installed agent, as its unit runs it, imports only bytecode the role compiled"
# shellcheck disable=SC2046 # the unit's Environment= assignments, one word each
setpriv --reuid sysops-agent --regid sysops-agent --init-groups \
    env $(sed -n 's/^Environment=//p' ../systemd/sysops-agent.service) /opt/sysops-agent/bin/python -c '
import agent.runtime, agent.bytecode
missing = agent.bytecode.compiled_at_start()
raise SystemExit(f"compiled from source: {missing}" if missing else 0)'
echo "-- a bad configuration is refused and the installed one is kept"
before=$(sha256sum /etc/sysops-agent/config.toml)
if play -e '{"sysops_agent_config": {"thresholds": {"cpu_percent": "high"}}}' > "$work/bad.log"; then
    echo "the playbook accepted an invalid configuration" >&2; exit 1
fi
grep -q 'thresholds.cpu_percent: expected a number' "$work/bad.log" ||
    { cat "$work/bad.log"; echo "no validation error in the output" >&2; exit 1; }
[ "$(sha256sum /etc/sysops-agent/config.toml)" = "$before" ] ||
    { echo "the installed configuration was changed" >&2; exit 1; }
echo "ansible: lint, syntax, check mode, apply, idempotence and validation all passed"
