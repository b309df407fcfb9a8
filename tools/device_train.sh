#!/usr/bin/env bash
# One prepared training run on a lent GPU (the `device` tool), for the acne model.
#
# Trains two ResNet-50 variants from scratch side by side on the one GPU (384 px at learning rate 2e-3,
# 320 px at 1e-3), each for BUDGET minutes of wall-clock time with bf16 autocast and an EMA of the
# weights, then keeps the variant whose *last-epoch* EMA weights (no selection on valid)
# score best on valid, and splits its checkpoint into chunks of at most 15 MB under $OUT.
# Put the aligned cache (tools/prepare_acne04.py, shrunk to 384 px) in devdata/acne04,
# git-ignored, and carry it:  run(command="bash tools/device_train.sh", carry=["devdata"])
# Join the chunks here with:  cat OUT/final.pt.part* > cache/runs/gpu/final.pt
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}
BUDGET=${BUDGET:-6}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}
mkdir -p "$OUT" runs
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, torchvision, cv2, numpy; print('torch', torch.__version__, 'tv', torchvision.__version__, 'cv2', cv2.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
variant() {
  local name=$1; shift
  python3 -m skintrack.model.train --data devdata/acne04 --cache devdata/acne04 --out "runs/$name" --device "$DEVICE" \
    --ema 0.998 --time-budget "$BUDGET" --epochs 1000 --save-every 50 --batch-size 32 --warmup-epochs 5 --seed 0 $EXTRA "$@" \
    >"runs/$name.log" 2>&1
  echo "$name exited $?"
}
variant r384 --size 384 --lr 2e-3 &
variant r320 --size 320 --lr 1e-3 &
wait
for f in runs/*.log; do echo "== $f"; grep -v "epoch .*/1000" "$f" | tail -n 4; done
python3 tools/device_pick.py runs "$OUT"
