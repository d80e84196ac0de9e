#!/usr/bin/env bash
# Run ko2en against a local LiteLLM proxy that enforces a per-key requests-per-minute limit.
#
# What it does, all on 127.0.0.1 and with no real LLM provider:
#   1. makes a throwaway Python venv and installs LiteLLM's proxy into it (pip install 'litellm[proxy]');
#   2. writes a proxy config whose model answers with LiteLLM's `mock_response`, and a custom
#      auth module that gives every key an `rpm_limit` (per-key rate limit, no database);
#   3. starts the proxy, prints the headers of one normal response and of a 429 (after a burst);
#   4. runs `ko2en summarize` on a 60-article Korean batch, once without --rpm, once with
#      --rpm equal to the key's limit, and once with two keys (two routes to one proxy, each
#      with its own budget), and reports wall time, 429s and exit codes;
#   5. stops the proxy and deletes everything it made (trap on EXIT).
#
# Per-key RPM without Postgres: LiteLLM normally stores keys (and their rpm_limit) in a database
# (/key/generate). Without one, the master key carries no limits. The documented way around it is
# custom auth: general_settings.custom_auth points at a function that returns a UserAPIKeyAuth,
# and the proxy enforces the rate limits set on that object (`rpm_limit`, `tpm_limit`, ...) with
# no extra flags and no database; the limiter then adds x-ratelimit-api_key-* headers.
#   Docs: https://docs.litellm.ai/docs/proxy/custom_auth ("What gets enforced": key rate limits
#         set on the returned object need no flags)
#         https://docs.litellm.ai/docs/proxy/response_headers (rate-limit headers of a limited key)
#
# Environment (all optional):
#   KO2EN_BIN      ko2en binary            [default: <repo>/target/release/ko2en]
#   RPM_LIMIT      per-key requests/minute [default: 20]
#   ARTICLES       articles in the batch   [default: 60]
#   LITELLM_SPEC   pip requirement         [default: litellm[proxy]]
#   KEEP_WORK=1    keep the work directory (config, logs, outputs) instead of deleting it
#
# Usage: scripts/litellm-proxy.sh        (needs python3 >= 3.9, curl, and PyPI access)

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KO2EN_BIN=${KO2EN_BIN:-$REPO_ROOT/target/release/ko2en}
RPM_LIMIT=${RPM_LIMIT:-20}
ARTICLES=${ARTICLES:-60}
LITELLM_SPEC=${LITELLM_SPEC:-litellm[proxy]}
FIXTURE=$REPO_ROOT/fixtures/sample-batch.jsonl
MODEL=gpt-4o-mini

case $KO2EN_BIN in /*) ;; *) KO2EN_BIN=$REPO_ROOT/$KO2EN_BIN ;; esac
[[ -x $KO2EN_BIN ]] || { echo "ko2en binary not found or not executable: $KO2EN_BIN (set KO2EN_BIN)" >&2; exit 2; }
[[ -f $FIXTURE ]] || { echo "missing $FIXTURE" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ko2en-litellm.XXXXXX")
PROXY_PID=""

cleanup() {
    local rc=$?
    if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill "$PROXY_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        rm -rf "$WORK/venv"
        echo "kept $WORK (venv removed)" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section() { printf '\n===== %s =====\n' "$*"; }

# ---------------------------------------------------------------------------------------------
section "1. venv + pip install $LITELLM_SPEC"
python3 -m venv "$WORK/venv"
PY=$WORK/venv/bin/python
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$PY" -m pip install --quiet --disable-pip-version-check "$LITELLM_SPEC"
LITELLM_VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("litellm"))')
echo "LiteLLM $LITELLM_VERSION"

# ---------------------------------------------------------------------------------------------
section "2. proxy config (mock_response model, per-key rpm_limit=$RPM_LIMIT via custom auth)"
mkdir -p "$WORK/proxy"

# The answer ko2en expects for a summary (SummaryReply): no figures, no Hangul in English fields,
# so the checks pass and every article costs exactly one request.
MOCK_ANSWER='{"title_en":"Mock headline","summary_ko":"모의 요약입니다. 실제 모델은 호출되지 않았습니다. 시험용 답변입니다.","summary_en":"This is a mock summary. No real model was called. It is a test answer.","key_points_en":["This is a mock answer.","No provider was called.","The proxy enforced a per-key limit."]}'

# Custom auth (https://docs.litellm.ai/docs/proxy/custom_auth): any key starting with "sk-ko2en-"
# is accepted and limited to RPM_LIMIT requests a minute; each distinct key has its own budget.
cat >"$WORK/proxy/ko2en_auth.py" <<EOF
from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth

RPM_LIMIT = $RPM_LIMIT


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key.startswith("Bearer "):
        api_key = api_key[len("Bearer "):]
    if not api_key.startswith("sk-ko2en-"):
        raise Exception("unknown key (keys must start with sk-ko2en-)")
    return UserAPIKeyAuth(api_key=api_key, key_alias=api_key, rpm_limit=RPM_LIMIT)
EOF

# YAML double-quoted scalar: JSON string escaping is valid YAML.
MOCK_YAML=$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$MOCK_ANSWER")
cat >"$WORK/proxy/config.yaml" <<EOF
model_list:
  - model_name: $MODEL
    litellm_params:
      model: openai/$MODEL
      api_key: dummy
      mock_response: $MOCK_YAML

general_settings:
  master_key: sk-ko2en-master-unused   # never used by clients; custom_auth decides
  custom_auth: ko2en_auth.user_api_key_auth

litellm_settings:
  telemetry: false
EOF
cat "$WORK/proxy/config.yaml"

# ---------------------------------------------------------------------------------------------
section "3. start proxy"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
BASE=http://127.0.0.1:$PORT
PROXY_LOG=$WORK/proxy.log
(
    cd "$WORK/proxy"
    export LITELLM_LOG=${LITELLM_LOG:-INFO} LITELLM_TELEMETRY=False DISABLE_SCHEMA_UPDATE=true \
        NO_DOCS=True NO_REDOC=True
    exec "$WORK/venv/bin/litellm" --config "$WORK/proxy/config.yaml" --host 127.0.0.1 --port "$PORT" \
        --num_workers 1
) >"$PROXY_LOG" 2>&1 &
PROXY_PID=$!
echo "proxy pid $PROXY_PID on $BASE, log $PROXY_LOG"

ready=0
for _ in $(seq 1 240); do
    if ! kill -0 "$PROXY_PID" 2>/dev/null; then break; fi
    if curl -fsS -o /dev/null "$BASE/health/liveliness" 2>/dev/null; then ready=1; break; fi
    sleep 0.5
done
if [[ $ready != 1 ]]; then
    echo "proxy did not come up; last log lines:" >&2
    tail -n 40 "$PROXY_LOG" >&2
    exit 1
fi
echo "proxy is up"

chat() { # chat KEY [curl args...]: one small chat completion
    local key=$1; shift
    curl -sS "$@" "$BASE/v1/chat/completions" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"안녕하세요\"}]}"
}

PROBE_KEY=sk-ko2en-probe
section "3a. one normal response (headers + body), key $PROBE_KEY"
chat "$PROBE_KEY" -i
echo

section "3a'. one streamed response's headers (ko2en streams), another key"
curl -sS -D - -o /dev/null "$BASE/v1/chat/completions" \
    -H "Authorization: Bearer sk-ko2en-probe-stream" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$MODEL\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"안녕하세요\"}]}" \
    | grep -i -E '^(HTTP|content-type|x-ratelimit|x-litellm-key)' || true
echo

section "3b. burst of $((RPM_LIMIT + 5)) requests on the same key; status codes"
codes=""
for _ in $(seq 1 $((RPM_LIMIT + 5))); do
    codes+="$(chat "$PROBE_KEY" -o /dev/null -w '%{http_code}') "
done
echo "$codes"

section "3c. one more request past the limit (headers + body)"
chat "$PROBE_KEY" -i
echo

# ---------------------------------------------------------------------------------------------
section "4. ko2en runs ($ARTICLES articles, per-key limit $RPM_LIMIT rpm)"
BATCH=$WORK/batch.jsonl
"$PY" - "$FIXTURE" "$BATCH" "$ARTICLES" <<'EOF'
import json, re, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fixtures = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
with open(dst, "w", encoding="utf-8") as out:
    for i in range(1, n + 1):
        f = fixtures[(i - 1) % len(fixtures)]
        # a few sentences of a real article, made unique so ko2en's dedupe sends every one
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", f["text"].replace("\n", " ")) if s.strip()]
        start = ((i - 1) // len(fixtures)) % max(1, len(sentences) - 2)
        body = " ".join(sentences[start:start + 3])
        body += f" 이 기사는 시험용 묶음의 {i}번째 기사입니다."
        out.write(json.dumps({"id": f"a{i}", "title": f"{f['title']} ({i})", "text": body},
                             ensure_ascii=False) + "\n")
EOF
echo "batch: $(wc -l <"$BATCH") articles in $BATCH"

count_429() { # count_429 FROM_LINE: 429 access-log lines in the proxy log after line FROM_LINE
    tail -n +"$(($1 + 1))" "$PROXY_LOG" | grep -c '/chat/completions.* 429' || true
}
count_200() {
    tail -n +"$(($1 + 1))" "$PROXY_LOG" | grep -c '/chat/completions.* 200' || true
}

declare -A RESULT
run_ko2en() { # run_ko2en LABEL KEY[,KEY2] [extra ko2en args...]
    local label=$1 keys=$2 key2="" key_env=KEY; shift 2
    local key=${keys%%,*}
    if [[ $keys == *,* ]]; then key2=${keys#*,} key_env=KEY,KEY2; fi
    local out=$WORK/out-$label.jsonl err=$WORK/stderr-$label.log
    local from rc t0 t1
    from=$(wc -l <"$PROXY_LOG")
    echo "--- $label: $KO2EN_BIN summarize ... $*"
    t0=$(date +%s.%N)
    set +e
    KEY=$key KEY2=$key2 "$KO2EN_BIN" summarize "$BATCH" --base-url "$BASE" --api-key-env "$key_env" --model "$MODEL" \
        --response-format json-object --no-cache -o "$out" "$@" 2>"$err"
    rc=$?
    set -e
    t1=$(date +%s.%N)
    sleep 1 # let the proxy flush its access log
    local wall p429 p200 s429 failed requests
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    p429=$(count_429 "$from")
    p200=$(count_200 "$from")
    # ko2en's closing line reads "... N requests sent (R retries: K rate_limited) ..."
    s429=$(grep -o '[0-9]* rate_limited' "$err" | tail -n 1 | cut -d' ' -f1 || true)
    s429=${s429:-0}
    if [[ -f $out ]]; then
        read -r failed requests < <("$PY" -c '
import json, sys
failed = requests = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    failed += r.get("error") is not None
    requests += (r.get("usage") or {}).get("requests", 0)
print(failed, requests)' "$out")
    else
        failed="n/a (no output file)" requests="n/a"
    fi
    RESULT[$label]="wall=${wall}s exit=$rc proxy_200=$p200 proxy_429=$p429 ko2en_rate_limited_retries=$s429 records_with_error=$failed requests_in_records=$requests"
    echo "$label: ${RESULT[$label]}"
    echo "    last stderr lines:"
    tail -n 5 "$err" | sed 's/^/      /'
}

# a fresh key per run, so each run starts with a full per-key budget
run_ko2en no-rpm sk-ko2en-run1
run_ko2en with-rpm sk-ko2en-run2 --rpm "$RPM_LIMIT"
# two keys of separate budgets: two routes, each paced by its own key's headers
run_ko2en two-keys sk-ko2en-run3a,sk-ko2en-run3b

# ---------------------------------------------------------------------------------------------
section "summary"
echo "LiteLLM $LITELLM_VERSION, per-key rpm_limit $RPM_LIMIT, $ARTICLES articles"
for label in no-rpm with-rpm two-keys; do echo "$label: ${RESULT[$label]}"; done
