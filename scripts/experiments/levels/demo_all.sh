#!/bin/bash
# Every rule x seed x scene at 1024 (development seeds 2 3 4), outputs under /tmp/levels/demo.
set -u
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD TIANDI_HOME=/tmp/levels/home OMP_NUM_THREADS=1 \
  PREFECT_HOME=/tmp/levels/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
RULES=${RULES:-"C0 C1 C2 C3 C4 C5"}
SEEDS=${SEEDS:-"2 3 4"}
for seed in $SEEDS; do for scene in real hand; do for rule in $RULES; do
  out=/tmp/levels/demo/$rule-$scene-s$seed
  [ -f $out/summary.json ] && continue
  flag=""; [ $scene = real ] && flag=--real-spectra
  nice -n 10 .venv/bin/python scripts/experiments/levels/run_demo.py $rule -- demo \
    --no-disturbances $flag --size 1024 --seed $seed --out $out > $out.log 2>&1
  echo "$rule $scene $seed rc=$?"
done; done; done
