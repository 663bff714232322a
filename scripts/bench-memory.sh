#!/usr/bin/env bash
# bench-memory.sh measures what one large upload costs: for each upload type it writes a
# document of MEM_TEXT_MB megabytes of text (default 8) with 'ragmigrate dev upload', reads it
# with 'ragmigrate inspect' (load and split, as reembed does for one file) and prints the peak
# RSS from GNU time next to the file and text sizes: the median of MEM_RUNS runs (default 3),
# since the peak moves with the garbage collector's timing. A bot's sources are held with their chunks
# until the bot is embedded, so this is the figure to size --max-file-bytes and --concurrency
# against the task's memory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/apt.sh"
apt_install time
export PATH="/usr/local/go/bin:$PATH"

text_mb=${MEM_TEXT_MB:-8}
runs=${MEM_RUNS:-3}
out=${BENCH_OUT:-$root/.stack/bench-memory}
mkdir -p "$out"
(cd "$root" && go build -tags dev -o bin/ragmigrate ./cmd/ragmigrate)
bin=$root/bin/ragmigrate
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

printf '%-6s %9s %9s %9s %12s %8s  %s\n' format file_MB text_MB peak_MB MB_per_text s note
for ext in txt md csv docx xlsx pptx pdf; do
	file="$out/upload-$text_mb.$ext"
	[ -s "$file" ] || "$bin" dev upload "$file" --text-mb "$text_mb" >/dev/null
	note=ok
	: >"$out/runs.$ext"
	for _ in $(seq "$runs"); do
		if ! /usr/bin/time -f '%M %e' -o "$out/time.$ext" "$bin" inspect --text-only "$file" >"$out/text.$ext" 2>"$out/err.$ext"; then
			note=$(tail -n 1 "$out/err.$ext" | sed "s#$out/##")
		fi
		tail -n 1 "$out/time.$ext" >>"$out/runs.$ext"
	done
	read -r peak_kb secs < <(sort -n "$out/runs.$ext" | sed -n "$(((runs + 1) / 2))p")
	text_bytes=$(stat -c %s "$out/text.$ext")
	printf '%-6s %9s %9s %9s %12s %8s  %s\n' "$ext" "$(mb "$(stat -c %s "$file")")" "$(mb "$text_bytes")" \
		"$(mb $((peak_kb * 1024)))" "$(awk -v p="$peak_kb" -v t="$text_bytes" 'BEGIN { if (t > 0) printf "%.1f", p * 1024 / t; else print "-" }')" \
		"$secs" "$note"
done
