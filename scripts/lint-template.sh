#!/usr/bin/env bash
# Lints and scans the SAM template:
#   1. cfn-lint                      - must print nothing and exit 0
#   2. checkov (cloudformation)      - must report no failed check
#   3. sam validate --lint           - must call the template valid
#
# Usage: scripts/lint-template.sh [TEMPLATE]     (default: template.yaml at the repo root)
# Env:   VENV           Python venv holding the tools (default: <repo root>/.venv; it must exist).
#                       cfn-lint, checkov and aws-sam-cli are pip-installed into it when missing.
#        LINT_SKIP_SAM  set to 1 to leave out step 3.
#
# The only accepted suppressions are those written in the template, in each resource's own
# Metadata. So every tool runs hermetically: from an empty scratch directory, with HOME pointing
# there and a scrubbed environment, so no .cfnlintrc, .checkov.yaml, samconfig.toml, ~/ config or
# CKV_* / CFN_* variable can change the outcome. Nothing is fetched while linting: checkov is told
# not to download guidelines and not to look for a newer version, SAM CLI telemetry is off and its
# weekly version check is marked as done.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
template=${1:-$root/template.yaml}
venv=${VENV:-$root/.venv}

die() { printf 'lint-template: %s\n' "$*" >&2; exit 2; }

[[ -f $template ]] || die "no template at $template"
template=$(cd "$(dirname "$template")" && pwd)/$(basename "$template")
[[ -x $venv/bin/python ]] || die "no Python venv at $venv (create it: python3 -m venv \"$venv\")"
venv=$(cd "$venv" && pwd)

missing=()
[[ -x $venv/bin/cfn-lint ]] || missing+=(cfn-lint)
[[ -x $venv/bin/checkov ]] || missing+=(checkov)
if [[ ${LINT_SKIP_SAM:-0} != 1 && ! -x $venv/bin/sam ]]; then missing+=(aws-sam-cli); fi
if ((${#missing[@]})); then
    echo "lint-template: installing ${missing[*]} into $venv" >&2
    "$venv/bin/pip" install -q "${missing[@]}"
fi

scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT

# SAM CLI keeps its settings in __SAM_CLI_APP_DIR: telemetry off, version check "just done".
mkdir -p "$scratch/sam"
printf '{"telemetryEnabled": false, "lastVersionCheck": %s.0}\n' "$(date +%s)" >"$scratch/sam/metadata.json"

# Runs a tool from the venv in the scratch directory with a minimal environment.
hermetic() {
    (cd "$scratch" && env -i \
        PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" \
        HOME="$scratch" \
        LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        TMPDIR="$scratch" \
        PYTHONDONTWRITEBYTECODE=1 \
        AWS_EC2_METADATA_DISABLED=true \
        BC_SKIP_MAPPING=TRUE \
        CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
        SAM_CLI_TELEMETRY=0 \
        __SAM_CLI_APP_DIR="$scratch/sam" \
        "$@")
}

failed=()

echo "== cfn-lint $(hermetic cfn-lint --version 2>&1 | awk '{print $NF}') - $template"
rc=0
out=$(hermetic cfn-lint -- "$template" 2>&1) || rc=$?
if ((rc != 0)) || [[ -n $out ]]; then
    printf '%s\n' "$out"
    echo "cfn-lint: FAILED (exit $rc)"
    failed+=(cfn-lint)
else
    echo "cfn-lint: clean"
fi

echo "== checkov $(hermetic checkov --version 2>&1 | tail -n 1)"
rc=0
out=$(hermetic checkov -f "$template" --framework cloudformation --quiet --compact --skip-download 2>&1) || rc=$?
printf '%s\n' "$out" | sed '/^$/d'
# A template checkov cannot parse yields no result at all and exit 0: insist on passed checks.
if ((rc != 0)) || ! grep -Eq 'Passed checks: [1-9][0-9]*, Failed checks: 0,' <<<"$out"; then
    echo "checkov: FAILED (exit $rc)"
    failed+=(checkov)
else
    echo "checkov: clean"
fi

if [[ ${LINT_SKIP_SAM:-0} != 1 ]]; then
    echo "== sam validate --lint ($(hermetic sam --version 2>&1 | awk '{print $NF}'))"
    rc=0
    out=$(hermetic sam validate --lint --region us-east-1 --template-file "$template" 2>&1) || rc=$?
    printf '%s\n' "$out"
    if ((rc != 0)) || ! grep -q 'is a valid SAM Template' <<<"$out"; then
        echo "sam validate: FAILED (exit $rc)"
        failed+=("sam validate")
    else
        echo "sam validate: clean"
    fi
fi

if ((${#failed[@]})); then
    echo "lint-template: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "lint-template: all clean"
