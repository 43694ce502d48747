#!/usr/bin/env bash
# One prepared run on a machine with a CUDA GPU (no network there): install fmlgrade without
# dependencies, then print per-device figures for
#   1. the sandbox itself (which isolation level this machine allows, and whether CUDA works inside it),
#   2. grading the sample submission on the CPU and on CUDA (sandboxed worker), task by task,
#   3. the spec's CUDA variants for the installed reference solutions, against their CPU variants,
#   4. `fmlgrade reference-train --device cuda` against the CPU.
# Wheels the machine lacks (nbformat and its needs) travel in .whl/, bubblewrap's .deb in .deb/.
# Usage on the GPU machine, from the repository root: bash benchmarks/gpu_check.sh OUTDIR
set -uo pipefail
out=${1:-/tmp/gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
if ! command -v bwrap >/dev/null && ls .deb/bubblewrap*.deb >/dev/null 2>&1; then
    dpkg -x .deb/bubblewrap*.deb /tmp/bw && export PATH=/tmp/bw/usr/bin:$PATH
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1
fmlgrade=(python3 -m fmlgrade.harness)

echo "== machine"; nvidia-smi -L; python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
echo "== isolation"; "${fmlgrade[@]}" isolation

profile=${FMLGRADE_GPU_PROFILE:-grade}
echo "== sample submission, per device ($profile profile)"
for device in cpu cuda; do
    start=$(date +%s%N)
    "${fmlgrade[@]}" check fixtures/submissions/sample_student/ --device "$device" --profile "$profile" --quiet \
        --json "$out/sample-$device.json"
    echo "sample on $device: exit $? in $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
reports = {d: json.load(open(f"{out}/sample-{d}.json")) for d in ("cpu", "cuda")}
for device, report in reports.items():
    print(device, "score", report["score"], "/", report["max_score"], "isolation", report.get("isolation"))
cpu = {t["id"]: t for t in reports["cpu"]["tasks"]}
for task in reports["cuda"]["tasks"]:
    other = cpu[task["id"]]
    same = "same" if (task["status"], task["score"]) == (other["status"], other["score"]) else "DIFFERENT"
    print(f"{task['id']:5} cpu {other['status']:14} cuda {task['status']:14} {same}")
EOF

echo "== spec CUDA variants against CPU variants (installed reference solutions, parts 2-3, quick)"
for device in ${FMLGRADE_GPU_SPEC_DEVICES:-cpu cuda}; do
    python3 -m pytest --pyargs fmlgrade.spec.part2 fmlgrade.spec.part3 -p fmlgrade.harness.pytest_plugin \
        --installed-solutions --device "$device" --fmlgrade-profile quick --import-mode=importlib \
        -q -p no:cacheprovider --durations=12 2>&1 | tail -22 | tee "$out/spec-$device.txt"
done

echo "== reference-train"
for device in cpu cuda; do
    start=$(date +%s%N)
    "${fmlgrade[@]}" reference-train --device "$device" --epochs "${FMLGRADE_GPU_EPOCHS:-2}" --out "$out/train-$device" 2>&1 | tail -4
    echo "reference-train on $device: exit $? in $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
