#!/usr/bin/env bash
# The network inside the default detector: integrated-high with each named 6-band network,
# on the demo scenes (four seeds of the real-spectra scene, the hand-set one), the network
# alone, an L2A-like shift of OSCD and `tiandi evaluate oscd`.
# Usage: bash scripts/experiments/integrated_network/compare.sh OUT [NETWORK ...]
#        (default networks: siamese-s2-6band-v0.5 siamese-s2-6band-v0.2; ≈ 7 min each)
set -euo pipefail
out=${1:?output folder}
shift
nets=("$@")
[ ${#nets[@]} -gt 0 ] || nets=(siamese-s2-6band-v0.5 siamese-s2-6band-v0.2)
mkdir -p "$out"
tiandi=.venv/bin/tiandi
demo() {  # detector, tag, extra demo options
    "$tiandi" demo --no-disturbances --detector "$1" --out "$out/$2" "${@:3}" >"$out/$2.log" 2>&1
    echo "$2: $(grep -A1 'against known' "$out/$2.log" | tr -s ' \n' ' ' | sed 's/ outputs in .*//')"
}
cities=$(ls "../shared/data/oscd-train/Onera Satellite Change Detection dataset - Train Labels" \
    | grep -v txt | tr '\n' ' ')
for net in "${nets[@]}"; do
    det=integrated-high@$net
    for seed in 0 1 2 3; do
        demo "$det" "${det//@/_}-seed$seed" --seed "$seed"
    done
    demo "$det" "${det//@/_}-hand-set" --hand-set-spectra
    demo "$net" "$net-seed0"
    demo "$net" "$net-hand-set" --hand-set-spectra
    # shellcheck disable=SC2086
    .venv/bin/python scripts/experiments/oscd_v3_cv/l2a_shift.py "$net" $cities
    "$tiandi" evaluate oscd --root ../shared/data/oscd-train --model "$det" \
        --json "$out/oscd-${det//@/_}.json" >/dev/null
    echo "oscd $det: $(.venv/bin/python -c "import json,sys; o=json.load(open(sys.argv[1]))['overall']; print(f\"F1 {o['f1']:.3f} P {o['precision']:.3f} R {o['recall']:.3f}\")" "$out/oscd-${det//@/_}.json")"
done
