#!/usr/bin/env bash
# Transcription and MP3 benchmarks (issue 8 part 6). Prints a table.
#
#   bash bench/transcribe.sh
#   MODEL=base LANGUAGE=en THREADS=2 BEAM=5 RUNS=3 bash bench/transcribe.sh
#
# (a) Whisper real-time factor: denwa's embedded engine (crates/transcribe, ct2rs/CTranslate2,
#     release build; FEATURES=dnnl for the oneDNN build) vs faster-whisper (PyPI, in a venv
#     under $WORK) on the same model folder, int8, the same threads and beam, greedy
#     temperature 0 only, no conditioning on previous text, no VAD filter — on the same
#     espeak-ng speech (~SPEECH_S seconds). Median of RUNS transcriptions each, model loading
#     not counted. Word agreement: 1 − word edit distance / words, between the two engines'
#     transcripts and against the script espeak-ng read.
# (b) MP3: denwa (mp3lame-encoder, LAME built from source) vs Debian's `lame` CLI on the
#     same 16 kHz mono WAV (MP3_MIN minutes), 32 kbit/s CBR mono, -q 5, no tag; best of RUNS.
#
# Env: MODELS (folder with tiny.en/ and base/, fetched with scripts/fetch_whisper_models.sh
#   when missing; default target/models), MODEL=tiny.en, LANGUAGE (hint; default en),
#   THREADS=2, BEAM=5, RUNS=3, SPEECH_S=60, MP3_MIN=10, FEATURES (cargo features of
#   denwa-transcribe), WORK (scratch; default bench/out/transcribe-DATE), CARGO_TARGET_DIR.
# Needs: espeak-ng, sox, lame, python3 + pip (faster-whisper from PyPI), cmake (ct2rs build).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODELS="${MODELS:-$ROOT/target/models}"
MODEL="${MODEL:-tiny.en}"
LANGUAGE="${LANGUAGE:-en}"
THREADS="${THREADS:-2}"
BEAM="${BEAM:-5}"
RUNS="${RUNS:-3}"
SPEECH_S="${SPEECH_S:-60}"
MP3_MIN="${MP3_MIN:-10}"
FEATURES="${FEATURES:-}"
WORK="${WORK:-$ROOT/bench/out/transcribe-$(date +%Y%m%d-%H%M%S)}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$WORK"
for tool in espeak-ng sox lame python3 cmake; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done

if [ ! -f "$MODELS/$MODEL/model.bin" ]; then
    echo "==> fetching Whisper models into $MODELS"
    bash "$ROOT/scripts/fetch_whisper_models.sh" "$MODELS"
fi

echo "==> building the bench example (release${FEATURES:+, features $FEATURES})"
cargo build --release -p denwa-transcribe --example transcribe_bench ${FEATURES:+--features "$FEATURES"}
BENCH="$TARGET/release/examples/transcribe_bench"

VENV="${FW_VENV:-$WORK/venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> faster-whisper from PyPI into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q faster-whisper
fi

echo "==> speech: espeak-ng reads a script of ~${SPEECH_S} s"
SCRIPT="$WORK/script.txt"
python3 - "$SPEECH_S" > "$SCRIPT" <<'PY'
import sys
lines = [
    "Thank you for calling customer support, my name is Anna, how can I help you today?",
    "Hello, I would like a refund for order number four two seven.",
    "The parcel arrived yesterday but the box was damaged and the glass inside was broken.",
    "I am sorry to hear that. Could you tell me the email address on the account?",
    "Of course, it is john dot smith at example dot com.",
    "Thank you. I can see the order here, it was shipped on Monday from our warehouse.",
    "Would you prefer a replacement or your money back on the original card?",
    "I would prefer the money back, please, because I need it before the weekend.",
    "That is no problem at all. The refund will appear within five working days.",
    "Is there anything else I can help you with this afternoon?",
    "No, that is everything. Thank you very much for your help, goodbye.",
]
# ~3.5 s per line at 150 words per minute.
n = max(1, int(float(sys.argv[1]) / 4.2))
print("\n".join(lines[i % len(lines)] for i in range(n)))
PY
espeak-ng -v en-us -s 150 -f "$SCRIPT" -w "$WORK/speech-22k.wav"
sox -D "$WORK/speech-22k.wav" -r 16000 -c 1 -b 16 "$WORK/speech.wav"
AUDIO_S=$(sox --i -D "$WORK/speech.wav")

cat > "$WORK/fw.py" <<'PY'
import json, sys, time
from faster_whisper import WhisperModel
model_dir, wav, threads, beam, language = sys.argv[1:6]
t = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=int(threads))
load_s = time.perf_counter() - t
t = time.perf_counter()
segments, info = model.transcribe(wav, beam_size=int(beam), language=language or None,
    temperature=0.0, condition_on_previous_text=False, vad_filter=False)
segments = list(segments)
print(json.dumps({"audio_s": info.duration, "load_s": load_s,
    "transcribe_s": time.perf_counter() - t, "segments": len(segments),
    "text": " ".join(s.text.strip() for s in segments)}))
PY
# Alternating runs, so a busy machine slows both engines alike.
echo "==> denwa (ct2rs) and faster-whisper, alternating, × $RUNS"
: > "$WORK/denwa.jsonl"; : > "$WORK/fw.jsonl"
for _ in $(seq "$RUNS"); do
    "$BENCH" whisper "$MODELS/$MODEL" "$WORK/speech.wav" "$THREADS" "$BEAM" "$LANGUAGE" >> "$WORK/denwa.jsonl"
    "$VENV/bin/python" "$WORK/fw.py" "$MODELS/$MODEL" "$WORK/speech.wav" "$THREADS" "$BEAM" "$LANGUAGE" >> "$WORK/fw.jsonl"
done

echo "==> MP3: ${MP3_MIN} min WAV"
sox "$WORK/speech.wav" "$WORK/long.wav" repeat $(( MP3_MIN * 60 / ${AUDIO_S%.*} + 1 )) trim 0 $(( MP3_MIN * 60 ))
MP3_AUDIO_S=$(sox --i -D "$WORK/long.wav")
: > "$WORK/mp3-denwa.txt"; : > "$WORK/mp3-lame.txt"
for _ in $(seq "$RUNS"); do
    "$BENCH" mp3 "$WORK/long.wav" "$WORK/denwa.mp3" 32 5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["encode_s"])' >> "$WORK/mp3-denwa.txt"
    python3 -c 'import subprocess, sys, time; t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True); print(time.perf_counter() - t)' \
        lame --silent -m m -b 32 -q 5 --resample 16 -t "$WORK/long.wav" "$WORK/lame.mp3" >> "$WORK/mp3-lame.txt"
done

python3 - "$WORK" "$AUDIO_S" "$MP3_AUDIO_S" "$MODEL" "$THREADS" "$BEAM" "$FEATURES" <<'PY'
import json, re, statistics, sys, os
work, audio_s, mp3_audio_s, model, threads, beam, features = sys.argv[1:8]
audio_s, mp3_audio_s = float(audio_s), float(mp3_audio_s)
def load(name):
    return [json.loads(l) for l in open(os.path.join(work, name)) if l.strip()]
NUM = {"zero":"0","one":"1","two":"2","three":"3","four":"4","five":"5","six":"6","seven":"7","eight":"8","nine":"9"}
def words(t):
    out = []
    for w in re.findall(r"[a-z0-9']+", t.lower()):
        if w.isdigit(): out.extend(list(w))       # "427" and "four two seven" compare equal
        else: out.append(NUM.get(w, w))
    return out
def agreement(ref, hyp):
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j-1] + 1, prev + (r[i-1] != h[j-1]))
            prev, d[j] = d[j], cur
    return 1 - d[len(h)] / max(1, len(r))
script = open(os.path.join(work, "script.txt")).read()
dn, fw = load("denwa.jsonl"), load("fw.jsonl")
t_dn = statistics.median(r["transcribe_s"] for r in dn)
t_fw = statistics.median(r["transcribe_s"] for r in fw)
mp3_dn = min(float(x) for x in open(os.path.join(work, "mp3-denwa.txt")))
mp3_lame = min(float(x) for x in open(os.path.join(work, "mp3-lame.txt")))
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print()
print(f"Whisper {model}, int8, {threads} threads, beam {beam}, {audio_s:.1f} s of espeak-ng speech, median of {len(dn)} runs; {cpu}, {os.cpu_count()} cores, load average {open('/proc/loadavg').read().split()[0]} at the end")
print()
print("| engine | transcribe (s) | real-time factor (audio/processing) | speed vs faster-whisper | segments | word agreement with script |")
print("|---|---:|---:|---:|---:|---:|")
label = "denwa (ct2rs" + (", " + features if features else ", ruy") + ")"
print(f"| {label} | {t_dn:.2f} | {audio_s/t_dn:.1f}× | {t_fw/t_dn:.2f}× | {dn[0]['segments']} | {agreement(script, dn[0]['text']):.1%} |")
print(f"| faster-whisper | {t_fw:.2f} | {audio_s/t_fw:.1f}× | 1.00× | {fw[0]['segments']} | {agreement(script, fw[0]['text']):.1%} |")
print()
print(f"Word agreement denwa vs faster-whisper: {agreement(fw[0]['text'], dn[0]['text']):.1%} (of faster-whisper's {len(words(fw[0]['text']))} words)")
print()
print(f"MP3, {mp3_audio_s/60:.0f} min of 16 kHz mono → 32 kbit/s CBR, -q 5, best of {len(open(os.path.join(work, 'mp3-lame.txt')).readlines())}")
print()
print("| encoder | seconds | × real time | speed vs lame CLI | bytes |")
print("|---|---:|---:|---:|---:|")
print(f"| denwa (mp3lame-encoder) | {mp3_dn:.2f} | {mp3_audio_s/mp3_dn:.0f}× | {mp3_lame/mp3_dn:.2f}× | {os.path.getsize(os.path.join(work,'denwa.mp3'))} |")
print(f"| lame CLI (Debian) | {mp3_lame:.2f} | {mp3_audio_s/mp3_lame:.0f}× | 1.00× | {os.path.getsize(os.path.join(work,'lame.mp3'))} |")
print()
print("denwa transcript:", dn[0]["text"][:300])
print("faster-whisper:  ", fw[0]["text"][:300])
PY
