#!/usr/bin/env bash
# Known vulnerabilities in every module of the repository (govulncheck v1.9.0), for `make vuln`.
#
#   tools/vuln.sh DB GOVULNCHECK_DIR MODULE...
#
# DB is govulncheck's -db (a file:// URL or https://vuln.go.dev); GOVULNCHECK_DIR is a module that
# pins govulncheck as a tool (../shared/vulndb/govulncheck), or empty for `go run ...@v1.9.0`.
# Every module is scanned, even after one has a finding; then each finding is listed with what
# fixes it (the standard library: upgrade Go; a module: upgrade that module) and how near our code
# it is. The script fails if any scan could not run or found anything: a vulnerability our code
# calls, and also one in a package it imports or a module it requires without calling it, since
# every module is meant to be on versions with no known vulnerability.
set -uo pipefail

db=$1; gvcdir=$2; shift 2
go=${GO:-go}
root=$(pwd)

if [ -n "$gvcdir" ]; then gvc=("$go" -C "$gvcdir" tool govulncheck); else gvc=("$go" run golang.org/x/vuln/cmd/govulncheck@v1.9.0); fi

echo "govulncheck: toolchain $("$go" env GOVERSION) (GOTOOLCHAIN=${GOTOOLCHAIN:-unset})"
echo "govulncheck: database $db"
case "$db" in
  file://*) echo "govulncheck: database updated $(sed -n 's/.*"modified": *"\([^"]*\)".*/\1/p' "${db#file://}/index/db.json")";;
esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=()
summary=""
for m in "$@"; do
  echo "== govulncheck $m"
  log="$out/$(echo "$m" | tr / _).txt"
  "${gvc[@]}" -C "$root/$m" -db "$db" -show verbose ./... >"$log" 2>&1
  rc=$?
  # The traces are long; the summary below says what each finding is and how to fix it.
  grep -v '^      #' "$log"
  findings=$(awk -v m="$m" '
    /^=== Symbol Results/  { where = "called by our code" }
    /^=== Package Results/ { where = "in a package we import, not called" }
    /^=== Module Results/  { where = "in a module we require, not imported" }
    /^Vulnerability #[0-9]+: / { id = $3 }
    /^  Standard library$/     { kind = "standard library" }
    /^  Module: /              { kind = "module " $2 }
    /^    Found in: /          { found = $3 }
    /^    Fixed in: /          {
      fix = (kind == "standard library") ? "upgrade Go to a release with the fix" : "upgrade the module"
      printf "%s: %s (%s) in the %s: found in %s, fixed in %s: %s\n", m, id, where, kind, found, $3, fix
    }' "$log")
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    failed+=("$m")
    summary+="$m: govulncheck could not scan it (exit $rc; see above)"$'\n'
  elif [ -n "$findings" ] || [ "$rc" -eq 3 ]; then
    failed+=("$m")
    summary+="${findings:-$m: govulncheck reported findings (exit 3; see above)}"$'\n'
  else
    summary+="$m: 0 findings"$'\n'
  fi
done

echo
echo "== govulncheck summary"
printf '%s' "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "govulncheck: FAILED in ${failed[*]}"
  exit 1
fi
echo "govulncheck: 0 findings in every module ($*)"
