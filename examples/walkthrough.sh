#!/usr/bin/env bash
# A knowledge cloud in miniature, end to end, on real medical images shipped with secfp's
# dependencies. Three institutions hold real tasks (CT, radiographs, ultrasound cine); each
# has keys, a sharing policy and a task card, and exports a signed, encrypted bundle to a
# fourth institution ("newcomer") and publishes it to the consortium's OCI registry (a local
# docker-registry when installed; else the bundles travel as files, and the script says so).
# The newcomer syncs (verifies and pools) the bundles under its import policy, fingerprints
# its own CT task, matches it against the pool and gets a transfer plan (terminal and HTML). Every step is audited; the audit chains are verified.
#
#   examples/walkthrough.sh [OUT_DIR]        (SAMPLES=300 by default; needs the weights imported)
set -euo pipefail
OUT=${1:-demo-out/walkthrough}
SAMPLES=${SAMPLES:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }

say "Real tasks from images shipped with the dependencies"
secfp sample-tasks "$OUT/tasks" >/dev/null
ls "$OUT/tasks"

say "Four institutions, each with its own keys, trust store and audit log (SECFP_HOME)"
for who in radboud charite kyoto newcomer; do
  SECFP_HOME="$OUT/$who/home" secfp keygen "$who" --out "$OUT/$who" --no-passphrase 2>/dev/null
done
for who in radboud charite kyoto; do
  SECFP_HOME="$OUT/newcomer/home" secfp trust add "$OUT/$who/$who.card.json"
  SECFP_HOME="$OUT/$who/home" secfp trust add "$OUT/newcomer/newcomer.card.json" >/dev/null
done

newcomer_key=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['encryption_key_id'])" "$OUT/newcomer/newcomer.card.json")
sed "s/@NEWCOMER_KEY_ID@/$newcomer_key/" "$HERE/policies/hospital-dp.toml.in" > "$OUT/kyoto/hospital-dp.toml"

say "Radboud and Charite export without DP (public sample data), under their policy"
SECFP_HOME="$OUT/radboud/home" secfp export "$OUT/tasks/ct/b" --key "$OUT/radboud/radboud.key" --to newcomer \
  --card "$HERE/cards/ct-radboud.toml" --policy "$HERE/policies/public-sample-data.toml" --samples "$SAMPLES" \
  --expires 30d -o "$OUT/radboud/ct.bundle"
SECFP_HOME="$OUT/charite/home" secfp export "$OUT/tasks/cr/b" --key "$OUT/charite/charite.key" --to newcomer \
  --card "$HERE/cards/cr-charite.toml" --policy "$HERE/policies/public-sample-data.toml" --samples "$SAMPLES" \
  --expires 30d -o "$OUT/charite/cr.bundle"

say "Kyoto treats its images as patient data: dry run first, then a DP release (epsilon 8)"
# Each cine frame is a file of its own, so each unit holds one image: k = 1 (the default 4 would
# quadruple the noise for nothing, and the noisy image-count gate would sometimes refuse).
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --to newcomer \
  --card "$HERE/cards/us-kyoto.toml" --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --max-images-per-unit 1 --dataset kyoto-us \
  --samples "$SAMPLES" --expires 30d -o "$OUT/kyoto/us.bundle" --dry-run --json \
  | python -c "import json,sys; d=json.load(sys.stdin); print('allowed:', d['allowed'], '| withheld:', d['withheld_card_fields'], '| epsilon:', round(d['would_release']['privacy']['epsilon'], 3))"
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --to newcomer \
  --card "$HERE/cards/us-kyoto.toml" --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --max-images-per-unit 1 --dataset kyoto-us \
  --samples "$SAMPLES" --expires 30d -o "$OUT/kyoto/us.bundle"

say "A refused export: Kyoto's policy does not allow public bundles (exit 5, audited)"
set +e
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --public \
  --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --max-images-per-unit 1 --dataset kyoto-us --samples "$SAMPLES" -o "$OUT/kyoto/public.bundle"
echo "exit code: $?"
set -e

say "The newcomer verifies one bundle by hand"
SECFP_HOME="$OUT/newcomer/home" secfp verify "$OUT/kyoto/us.bundle" --key "$OUT/newcomer/newcomer.key" --no-record

if command -v docker-registry >/dev/null 2>&1; then
  say "Exchange through an OCI registry (docker-registry, CNCF Distribution, on loopback with htpasswd accounts)"
  port=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  mkdir -p "$OUT/registry"
  REG=$(cd "$OUT/registry" && pwd)
  python - "$OUT/registry" <<'PY'
import bcrypt, sys
folder = sys.argv[1]
with open(f"{folder}/htpasswd", "w") as fh:
    for who in ("radboud", "charite", "kyoto", "newcomer"):
        fh.write(f"{who}:{bcrypt.hashpw(f'{who}-demo-password'.encode(), bcrypt.gensalt()).decode()}\n")
PY
  cat > "$OUT/registry/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $REG/storage}}
http: {addr: "127.0.0.1:$port", secret: walkthrough-only}
auth: {htpasswd: {realm: walkthrough, path: $REG/htpasswd}}
YML
  docker-registry serve "$OUT/registry/config.yml" >"$OUT/registry/registry.log" 2>&1 &
  registry_pid=$!
  trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    python -c "import urllib.request as u, sys
try: u.urlopen('http://127.0.0.1:$port/v2/', timeout=1)
except Exception as e: sys.exit(0 if getattr(e, 'code', None) == 401 else 1)" && break
    sleep 0.1
  done
  CLOUD="oci://127.0.0.1:$port/consortium"
  echo "registry: $CLOUD (each institution pushes to its own repository; plain HTTP only because it is loopback)"
  for pair in radboud:ct charite:cr kyoto:us; do
    who=${pair%%:*}; task=${pair##*:}
    SECFP_HOME="$OUT/$who/home" SECFP_REGISTRY_PASSWORD="$who-demo-password" secfp publish "$OUT/$who/$task.bundle" \
      "$CLOUD/$who" --username "$who" --plain-http
  done
  say "The newcomer syncs the consortium namespace into its pool (each bundle verified as by 'pool add')"
  export SECFP_HOME="$OUT/newcomer/home" SECFP_REGISTRY_PASSWORD=newcomer-demo-password
  secfp pool sync "$CLOUD" --pool "$OUT/newcomer/pool" --key "$OUT/newcomer/newcomer.key" \
    --policy "$HERE/policies/newcomer-import.toml" --username newcomer --plain-http
  say "A nightly sync the next day: nothing new, nothing downloaded twice"
  secfp pool sync "$CLOUD" --pool "$OUT/newcomer/pool" --key "$OUT/newcomer/newcomer.key" \
    --policy "$HERE/policies/newcomer-import.toml" --username newcomer --plain-http
else
  say "Exchange as files (docker-registry is not installed; with it, this step goes through an OCI registry)"
  export SECFP_HOME="$OUT/newcomer/home"
  secfp pool add "$OUT/radboud/ct.bundle" "$OUT/charite/cr.bundle" "$OUT/kyoto/us.bundle" --pool "$OUT/newcomer/pool" \
    --key "$OUT/newcomer/newcomer.key" --policy "$HERE/policies/newcomer-import.toml"
fi
secfp pool list --pool "$OUT/newcomer/pool"

say "The newcomer fingerprints its own CT task and matches it against the pool"
secfp fingerprint "$OUT/tasks/ct/a" --samples "$SAMPLES" -o "$OUT/newcomer/my-task.fp.json"
secfp match "$OUT/newcomer/my-task.fp.json" --pool "$OUT/newcomer/pool" --key "$OUT/newcomer/newcomer.key" \
  --policy "$HERE/policies/newcomer-import.toml"

say "Transfer plan: what to take from whom, and why"
secfp plan "$OUT/newcomer/my-task.fp.json" --pool "$OUT/newcomer/pool" --key "$OUT/newcomer/newcomer.key" \
  --policy "$HERE/policies/newcomer-import.toml" --card "$HERE/cards/newcomer-ct.toml" --top 2 \
  --html "$OUT/newcomer/report.html"

say "Audit trails verify (hash chains intact)"
for who in radboud charite kyoto newcomer; do
  printf '%-9s ' "$who"; secfp audit verify "$OUT/$who/home/audit.jsonl"
done
echo
echo "HTML report: $OUT/newcomer/report.html"
