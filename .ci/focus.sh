#!/usr/bin/env bash
# CI check of monthly_bill.focus.csv with the FinOps Foundation's
# focus-validator (PyPI), FOCUS 1.0: no failed rule, on the bundled sample
# and on a generated data set. See docs/focus.md#checking-it-with-focus-validator.
#
# Needs python3 (with venv) and the caller's CARGO_TARGET_DIR. The venv is
# made once at ${FOCUS_VENV:-$HOME/.cache/refund-recon/focus-venv}; pip
# needs the network only the first time.
#
# focus-validator 1.0.0 (the only release) has five defects in its "1.0"
# rule set, so the file is checked twice:
#   1. with a corrected copy of the validator's own 1.0 rules: every rule
#      must pass. The copy changes only what contradicts FOCUS 1.0 itself:
#      the column ids Provider, Publisher, InvoiceIssuer and ResourceID are
#      the 1.0-preview names (1.0: ProviderName, PublisherName,
#      InvoiceIssuerName, ResourceId), and SkuPriceId_Nullable queries the
#      0.5 column ChargeType (1.0: ChargeCategory).
#   2. with the stock rules: the failed rules must be exactly those five
#      (so a new failure of any other rule is caught there too).
# The validator always exits 0, so its output is parsed: it prints
# "Validation succeeded." or "<rule> failed:" lines and "Validation failed!".
# It reads its currency list from a path relative to the working folder,
# so it runs from its own site-packages folder.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

VALIDATOR_VERSION="1.0.0"
venv="${FOCUS_VENV:-$HOME/.cache/refund-recon/focus-venv}"
if [ ! -x "$venv/bin/focus-validator" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "focus-validator==$VALIDATOR_VERSION" "multimethod<1.11"
site="$("$venv/bin/python" -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')"
stock="$site/focus_validator/rules/version_sets"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The corrected copy of the 1.0 rules (step 1 above).
mkdir -p "$work/rules"
cp -r "$stock/1.0" "$work/rules/1.0"
for f in "$work"/rules/1.0/*.yaml; do
  sed -i \
    -e 's/^column_id: Provider$/column_id: ProviderName/' \
    -e 's/^column_id: Publisher$/column_id: PublisherName/' \
    -e 's/^column_id: InvoiceIssuer$/column_id: InvoiceIssuerName/' \
    -e 's/^column_id: ResourceID$/column_id: ResourceId/' \
    "$f"
done
sed -i -e 's/ChargeType/ChargeCategory/g' "$work/rules/1.0/SkuPriceId_Nullable.yaml"
known_stock_failures="InvoiceIssuer_Required
Provider_Required
Publisher_Required
ResourceID_Required
SkuPriceId_Nullable"

# Prints the names of the failed rules of one validator run.
failed_rules() {
  grep -E '^[A-Za-z0-9_.]+ failed:$' "$1" | sed 's/ failed:$//' | sort -u || true
}

# validate FILE: both checks; returns non-zero on any unexpected result.
validate() {
  local file="$1" log="$work/validator.log"
  (cd "$site" && "$venv/bin/focus-validator" --data-file "$file" --validate-version 1.0 \
    --rule-set-path "$work/rules") >"$log" 2>&1 || true
  if ! grep -qx "Validation succeeded." "$log" || [ -n "$(failed_rules "$log")" ]; then
    echo "focus-validator (1.0 rules, column ids corrected) FAILED on $file:" >&2
    cat "$log" >&2
    return 1
  fi
  (cd "$site" && "$venv/bin/focus-validator" --data-file "$file" --validate-version 1.0) >"$log" 2>&1 || true
  local got
  got="$(failed_rules "$log")"
  if [ "$got" != "$known_stock_failures" ]; then
    echo "focus-validator (stock 1.0 rules) on $file: expected exactly the five known rule-set defects to fail, got:" >&2
    cat "$log" >&2
    return 1
  fi
  echo "focus-validator $VALIDATOR_VERSION: no failed rule on $file ($(($(wc -l <"$file") - 1)) rows)"
}

# The bundled sample.
cargo run --release --locked --quiet -- run --format csv,focus --out "$work/sample" >/dev/null
validate "$work/sample/monthly_bill.focus.csv"

# A generated data set.
cargo run --release --locked --quiet -- generate --out "$work/gen" --orders 3000 >/dev/null
cargo run --release --locked --quiet -- run --format csv,focus --data "$work/gen" --out "$work/gen-reports" >/dev/null
validate "$work/gen-reports/monthly_bill.focus.csv"

cd "$repo"
echo "FOCUS check passed"
