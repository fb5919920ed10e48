#!/usr/bin/env bash
# The GPU figures of the README in one command, for a machine with a CUDA GPU:
#   1. benchmarks/throughput.py: GPT-2 124M training tokens/s and MFU, ours vs Hugging Face, eager and compiled;
#   2. benchmarks/notebook_times.py: each notebook's wall time in the gpu profile (the course map's gpu column).
# Each stage has a time limit, so partial output still arrives; both end with one JSON line.
#
#   bash benchmarks/gpu_report.sh                      # about 8 minutes on an H100/H200
#   THROUGHPUT_ARGS="--quick" NOTEBOOKS="solutions/02_mlp_cp_fit.ipynb" bash benchmarks/gpu_report.sh
#
# On a machine without the notebook packages (nbclient, ipykernel, ipywidgets, pooch ...), put their
# wheels in .whl/ and they are installed into /tmp/site first (INSTALL_WHEELS=0 skips that). Offline, put the course's data files
# (tinyshakespeare.txt, the-verdict.txt, encoder.json, vocab.bpe, tiktoken_cache/) in .devdata/.
set -uo pipefail
cd "$(dirname "$0")/.."
report=${REPORT_DIR:-${OUT:-/tmp/gpu_report}}
mkdir -p "$report"
python=${PYTHON:-python3}

if [ "${INSTALL_WHEELS:-1}" = 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if [ -d .devdata ]; then
    export COURSE_DATA_DIR="$PWD/.devdata" TIKTOKEN_CACHE_DIR="$PWD/.devdata/tiktoken_cache"
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"

budget=${BUDGET:-470}  # seconds for the three stages together; each stage has its own limit too
SECONDS=0

echo "== throughput (limit ${THROUGHPUT_LIMIT:-300} s)"
# shellcheck disable=SC2086  # THROUGHPUT_ARGS is a list of flags
timeout "${THROUGHPUT_LIMIT:-300}" "$python" benchmarks/throughput.py ${THROUGHPUT_ARGS:-} 2>&1 \
    | grep -v -e "^W[0-9]" -e "UserWarning" | tee "$report/throughput.txt"

echo "== notebooks, gpu profile (limit ${NOTEBOOKS_LIMIT:-150} s)"
# shellcheck disable=SC2086
timeout "${NOTEBOOKS_LIMIT:-150}" "$python" benchmarks/notebook_times.py --profile gpu --timeout 140 \
    ${NOTEBOOKS:-solutions/0[1-5]*.ipynb} 2>&1 | grep -v "Kernel is running over TCP" | tee "$report/notebooks.txt"

left=$((budget - SECONDS))
if [ "$left" -ge 30 ]; then
    echo "== the pretraining command line on this GPU: nanoGPT's Shakespeare-char model, 300 steps (limit $left s)"
    rm -rf /tmp/gpu_report_run
    timeout "$left" "$python" -m course_lib.pretrain --config shakespeare-char --data tinyshakespeare \
        --out /tmp/gpu_report_run --max-steps 300 --eval-interval 100 2>&1 | tr '\r' '\n' | grep -v -e "s/step" -e "step/s" -e "^ *$" \
        | tee "$report/pretrain_cli.txt"  # progress-bar frames dropped, messages and errors kept
else
    echo "== skipping the command-line run: ${left} s left of ${budget}"
fi
echo "== done in ${SECONDS} s; logs in $report"
