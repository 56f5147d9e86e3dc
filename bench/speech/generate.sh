#!/usr/bin/env bash
# Generates the benchmark speech: several voices × several sentences,
# synthesised with espeak-ng and converted with sox to 48 kHz mono 16-bit,
# each file ~6–9 s with short pauses so the codec sees onsets and silences.
# Output goes to bench/speech/out/ (not committed; regenerated on demand).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
mkdir -p "$out"
command -v espeak-ng >/dev/null || { echo "needs espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "needs sox (apt-get install sox)" >&2; exit 1; }

voices=(en-us en-gb+f3 en-us+m3 en-gb-scotland+f2 en-029+m5 en-gb-x-rp+f4)
sentences=(
  "The kettle on the back burner began to whistle. Nobody in the kitchen seemed to notice it at all."
  "Seven thin planks were stacked against the barn door. A grey cat slept on the highest one."
  "Please call me back before noon tomorrow. The shipment of copper wire is two days late."
  "Rain drummed on the tin roof while we counted the votes. Forty two in favour, nineteen against."
  "She packed a torch, a map, and three apples. Then she walked north along the frozen river."
  "Bright orange lanterns hung above the market square. The baker shouted prices over the crowd."
)
i=0
for v in "${voices[@]}"; do
  s="${sentences[$((i % ${#sentences[@]}))]}"
  t="${sentences[$(((i + 3) % ${#sentences[@]}))]}"
  name=$(printf "speech%02d" "$i")
  # Speaking rate and pitch vary per voice so the set is not one timbre.
  rate=$((140 + (i * 7) % 40))
  pitch=$((35 + (i * 13) % 40))
  espeak-ng -v "$v" -s "$rate" -p "$pitch" -w "$out/$name.raw.wav" "$s $t"
  # 0.3 s lead-in, 0.5 s tail, level normalised to -3 dBFS peak.
  sox "$out/$name.raw.wav" -r 48000 -c 1 -b 16 "$out/$name.wav" \
      pad 0.3 0.5 gain -n -3
  rm -f "$out/$name.raw.wav"
  i=$((i + 1))
done
ls "$out"/*.wav
