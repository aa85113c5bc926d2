#!/usr/bin/env bash
# A knowledge cloud in miniature, end to end, on real medical images shipped with secfp's
# dependencies. Three institutions hold real tasks (CT, radiographs, ultrasound cine); each
# has keys, a sharing policy and a task card, and exports a signed, encrypted bundle to a
# fourth institution ("newcomer"). The newcomer verifies and pools the bundles under its
# import policy, fingerprints its own CT task, matches it against the pool and gets a
# transfer plan (terminal and HTML). Every step is audited; the audit chains are verified.
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
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --to newcomer \
  --card "$HERE/cards/us-kyoto.toml" --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --dataset kyoto-us \
  --samples "$SAMPLES" --expires 30d -o "$OUT/kyoto/us.bundle" --dry-run --json \
  | python -c "import json,sys; d=json.load(sys.stdin); print('allowed:', d['allowed'], '| withheld:', d['withheld_card_fields'], '| epsilon:', round(d['would_release']['privacy']['epsilon'], 3))"
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --to newcomer \
  --card "$HERE/cards/us-kyoto.toml" --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --dataset kyoto-us \
  --samples "$SAMPLES" --expires 30d -o "$OUT/kyoto/us.bundle"

say "A refused export: Kyoto's policy does not allow public bundles (exit 5, audited)"
set +e
SECFP_HOME="$OUT/kyoto/home" secfp export "$OUT/tasks/us/b" --key "$OUT/kyoto/kyoto.key" --public \
  --policy "$OUT/kyoto/hospital-dp.toml" --dp-epsilon 8 --dataset kyoto-us --samples "$SAMPLES" -o "$OUT/kyoto/public.bundle"
echo "exit code: $?"
set -e

say "The newcomer verifies one bundle, then pools all three under its import policy"
export SECFP_HOME="$OUT/newcomer/home"
secfp verify "$OUT/kyoto/us.bundle" --key "$OUT/newcomer/newcomer.key" --no-record
secfp pool add "$OUT/radboud/ct.bundle" "$OUT/charite/cr.bundle" "$OUT/kyoto/us.bundle" --pool "$OUT/newcomer/pool" \
  --key "$OUT/newcomer/newcomer.key" --policy "$HERE/policies/newcomer-import.toml"
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
