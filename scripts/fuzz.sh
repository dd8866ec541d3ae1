#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one per core at a time. Each run first replays the target's
# kept regressions (fuzz/regressions/TARGET: inputs that once crashed it) and its seeds (the
# disc-image fixtures, the test catalogue's MARC records, SRU and OAI-PMH answers built from
# them), then fuzzes. Any crash fails the script, printing the input's path; add the input to
# fuzz/regressions/TARGET with the fix. Stable toolchain: libFuzzer's flags are allowed via
# RUSTC_BOOTSTRAP. The suite (scripts/test.sh) runs this with FUZZ_SECONDS each.
# No AddressSanitizer (`-s none`): the workspace forbids unsafe code, so the memory errors ASan
# finds cannot happen in the code fuzzed, and Rust's own checks (bounds, overflow, debug
# assertions) stay on; the build is shorter and each run faster (loadtests/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
TARGETS=(image cue range upload_metadata isbn reader_input marc catalogue_xml dav_body text_bytes z3950_ber cas_xml oidc_token)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
build() {
  (cd fuzz && cargo fuzz build -s none --release --debug-assertions)
}
# `scripts/fuzz.sh build`: only the build (scripts/test.sh starts it early, in the background).
if [ "$SECONDS_EACH" = build ]; then
  build
  exit
fi
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

# ---- seeds ----
tests/fixtures/make-images.sh "$seeds/img" >/dev/null
for t in "${TARGETS[@]}"; do mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"; done
for f in level1.iso gbk.iso udf201.img; do cp "$seeds/img/$f" fuzz/corpus/image/; done
# A CUE seed: the sheet, a NUL, then the BIN (see fuzz_targets/cue.rs).
{ printf 'FILE "a.bin" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n'; printf '\0'; cat "$seeds/img/disc (Track 1).bin"; } >fuzz/corpus/cue/mode1
records=tests/zebra/records
for db in marc21 unimarc; do
  cp "$records/$db.xml" "fuzz/corpus/marc/$db.xml"
  yaz-marcdump -i marcxml -o marc -f utf-8 -t utf-8 "$records/$db.xml" >"fuzz/corpus/marc/$db.mrc" 2>/dev/null
  body=$(sed -n '/<record>/,/<\/record>/p' "$records/$db.xml" | sed -n '1,/<\/record>/p' \
    | sed 's/<record>/<record xmlns="http:\/\/www.loc.gov\/MARC21\/slim">/')
  cat >"fuzz/corpus/catalogue_xml/sru-$db" <<XML
<?xml version="1.0"?>
<zs:searchRetrieveResponse xmlns:zs="http://docs.oasis-open.org/ns/search-ws/sruResponse"><zs:numberOfRecords>1</zs:numberOfRecords><zs:records><zs:record><zs:recordSchema>marcxml</zs:recordSchema><zs:recordXMLEscaping>xml</zs:recordXMLEscaping><zs:recordData>$body</zs:recordData><zs:recordPosition>1</zs:recordPosition></zs:record></zs:records></zs:searchRetrieveResponse>
XML
  cat >"fuzz/corpus/catalogue_xml/oai-$db" <<XML
<?xml version="1.0"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate><request verb="ListRecords">x</request><ListRecords><record><header><identifier>oai:x:1</identifier><datestamp>2024-01-01</datestamp></header><metadata>$body</metadata></record><record><header status="deleted"><identifier>oai:x:2</identifier><datestamp>2024-01-02</datestamp></header></record><resumptionToken>t1</resumptionToken></ListRecords></OAI-PMH>
XML
done
printf '<?xml version="1.0"?><zs:searchRetrieveResponse xmlns:zs="http://www.loc.gov/zing/srw/"><zs:version>1.1</zs:version><zs:diagnostics><diagnostic xmlns="http://www.loc.gov/zing/srw/diagnostic/"><uri>info:srw/diagnostic/1/16</uri><message>Unsupported index</message></diagnostic></zs:diagnostics></zs:searchRetrieveResponse>' \
  >fuzz/corpus/catalogue_xml/sru-diagnostic
# Real Zebra sessions (server to client), captured between yaz-client and the test Zebra.
cp fuzz/seeds/z3950/*.ber fuzz/corpus/z3950_ber/
cp fuzz/seeds/oidc/*.txt fuzz/corpus/oidc_token/
# What the test CAS server (django-mama-cas) answers and posts.
printf '<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>li.admin</cas:user><cas:attributes><cas:affiliation>staff</cas:affiliation><cas:affiliation>library-admins</cas:affiliation><cas:displayName>\xe6\x9d\x8e</cas:displayName></cas:attributes></cas:authenticationSuccess></cas:serviceResponse>' >fuzz/corpus/cas_xml/success
printf '<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">ticket ST-1 has already been used</cas:authenticationFailure></cas:serviceResponse>' >fuzz/corpus/cas_xml/failure
printf '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1" Version="2.0" IssueInstant="2026-12-04T19:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>ST-17-abc</samlp:SessionIndex></samlp:LogoutRequest>' >fuzz/corpus/cas_xml/logout
printf 'bytes=0-99' >fuzz/corpus/range/first
printf '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><Z:x xmlns:Z="urn:z"/></D:prop></D:propfind>' >fuzz/corpus/dav_body/propfind
printf '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set><D:remove><D:prop><Z:y/></D:prop></D:remove></D:propertyupdate>' >fuzz/corpus/dav_body/proppatch
printf 'filename ZGlzYy5pc28=,sha256 YWJj' >fuzz/corpus/upload_metadata/tus
printf '978-7-302-12345-6 (pbk.)' >fuzz/corpus/isbn/isbn13
printf 'path,label\r\n\xb9\xe2\xc5\xcc.iso,"\xcb\xe6\xca\xe9,\n\xb9\xe2\xc5\xcc"\r\n' >fuzz/corpus/text_bytes/gbk-manifest
printf '<html><head><meta charset="big5"></head><body>\xbb\xa1\xa9\xfa</body></html>' >fuzz/corpus/text_bytes/big5-page

# ---- runs ----
build >/dev/null 2>"$seeds/build.log" || { cat "$seeds/build.log" >&2; exit 1; }
# The targets run side by side, one per core (each libFuzzer run is one thread), so each
# still gets its SECONDS of a whole core.
JOBS=${SPINDLE_FUZZ_JOBS:-$(nproc)}
fuzz_one() {
  local target=$1 log="$seeds/$1.log" runs
  if (cd fuzz && cargo fuzz run -s none --release --debug-assertions "$target" "corpus/$target" "regressions/$target" -- \
      -max_total_time="$SECONDS_EACH" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1); then
    runs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log")
    echo "fuzz $target: ${SECONDS_EACH}s, ${runs:-?} inputs, no crash"
  else
    { echo "fuzz $target: FAILED"; tail -40 "$log"; } >&2
    touch "$seeds/$target.failed"
  fi
}
for target in "${TARGETS[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  fuzz_one "$target" &
done
wait
failed=()
for target in "${TARGETS[@]}"; do
  [ -e "$seeds/$target.failed" ] && failed+=("$target")
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: crashes in ${failed[*]} (inputs under fuzz/artifacts/)" >&2; exit 1; }
