#!/usr/bin/env bash
# Recipe 1 -- sipp as the CUSTOMER: inbound call(s) over SIP/UDP into the server under test.
#
#   SUT_PORT=5060 sipp/sipp_caller.sh                    # 1 call: speech + DTMF "1234#" (1 pcap), BYE
#   SCENARIO=rtpstream sipp/sipp_caller.sh               # speech via rtp_stream + sipp's stock DTMF pcap
#   SCENARIO=waitbye WAIT_BYE_MS=30000 sipp/sipp_caller.sh # speech+DTMF, then the SERVER must send BYE
#   SCENARIO=cancel CANCEL_MS=2000 sipp/sipp_caller.sh   # caller hangs up while ringing (CANCEL)
#   SCENARIO=announce EXPECT=480 ANNOUNCE_MS=5000 REC=1 sipp/sipp_caller.sh  # 183 early media, then 480
#   SCENARIO=announce_cancel CANCEL_MS=1000 sipp/sipp_caller.sh  # CANCEL during the early media
#   SCENARIO=load RATE=50 CALLS=500 LIMIT=500 HOLD_MS=5000 sipp/sipp_caller.sh   # load, stats CSV
#   REC=1 sipp/sipp_caller.sh                            # also record what the server sends back
#
# Env (defaults):  SUT_IP=127.0.0.1 SUT_PORT=5060 SERVICE=1000 (R-URI user = dialled number)
#   CALLER=5551234  CALLER_SIP_PORT=25060  CALLER_RTP_PORT=26000 (sipp -mp; +2 is also bound)
#   SCENARIO=pcap|rtpstream|waitbye|cancel|reject|announce|announce_cancel|load
#    (reject: EXPECT=404, RING_S=secs before it; announce: EXPECT=480, ANNOUNCE_MS its length)
#    CALLS=1 RATE=1 (calls/s) LIMIT=(sipp default) HOLD_MS
#   PCAP=media/call_speech_dtmf.pcap (pcap)   SPEECH=media/speech.ulaw DTMF_PCAP=stock "1" (rtpstream)
#   TRANSPORT=u1 (u1|un|t1|tn)  TIMEOUT_S (global watchdog)  REC=0|1  EXTRA_SIPP_ARGS=""
#   SIPP_BUFF=4194304 (UDP socket buffer; sipp's default 208 KiB drops packets above ~1500 cps)
# Output: $RUN_DIR (printed) with sipp screen/err/msg logs, stat.csv, *_rtt.csv, summary.json,
#   and with REC=1: rx.pcap, rx.wav, rx.json (received audio + RFC 4733 digits).
# Exit code: sipp's (0 = every call successful, 1 = some failed, others = sipp error) or 124.
# Needs root or CAP_NET_RAW for play_pcap_audio (raw socket) and for REC=1 (tshark).
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"

SUT_IP="${SUT_IP:-127.0.0.1}"
SUT_PORT="${SUT_PORT:-5060}"
SERVICE="${SERVICE:-1000}"
CALLER="${CALLER:-5551234}"
CALLER_SIP_PORT="${CALLER_SIP_PORT:-25060}"
CALLER_RTP_PORT="${CALLER_RTP_PORT:-26000}"
SCENARIO="${SCENARIO:-pcap}"
CALLS="${CALLS:-1}"
RATE="${RATE:-1}"
TRANSPORT="${TRANSPORT:-u1}"
REC="${REC:-0}"
PCAP="${PCAP:-$MEDIA_DIR/call_speech_dtmf.pcap}"
SPEECH="${SPEECH:-$MEDIA_DIR/speech.ulaw}"
DTMF_PCAP="${DTMF_PCAP:-/usr/share/sip-tester/dtmf_2833_1.pcap}"
CANCEL_MS="${CANCEL_MS:-1000}"

[[ -s "$MEDIA_DIR/call_speech_dtmf.pcap" ]] || "$PEERS_DIR/tools/mkmedia.sh" >/dev/null
port_free udp "$CALLER_SIP_PORT" || die "udp/$CALLER_SIP_PORT busy (set CALLER_SIP_PORT)"

keys=(-key caller "$CALLER")
case "$SCENARIO" in
  pcap)
    xml="$HERE/uac_call_pcap.xml"
    pcap_ms=$(python3 "$PEERS_DIR/tools/pcap_duration_ms.py" "$PCAP")
    HOLD_MS="${HOLD_MS:-$((pcap_ms + 1000))}"
    keys+=(-key pcap "$PCAP" -key hold_ms "$HOLD_MS")
    call_ms=$HOLD_MS ;;
  rtpstream)
    xml="$HERE/uac_call_rtpstream.xml"
    speech_ms=$(( $(stat -c %s "$SPEECH") / 8 ))          # 8 bytes per ms of G.711
    dtmf_ms=$(( $(python3 "$PEERS_DIR/tools/pcap_duration_ms.py" "$DTMF_PCAP") + 300 ))
    HOLD_MS="${HOLD_MS:-1000}"
    keys+=(-key speech "$SPEECH,-1,0" -key speech_ms "$speech_ms" -key dtmf_pcap "$DTMF_PCAP"
           -key dtmf_ms "$dtmf_ms" -key hold_ms "$HOLD_MS")
    call_ms=$((speech_ms + dtmf_ms + HOLD_MS)) ;;
  waitbye)
    xml="$HERE/uac_call_waitbye.xml"
    WAIT_BYE_MS="${WAIT_BYE_MS:-60000}"
    keys+=(-key pcap "$PCAP" -recv_timeout "$WAIT_BYE_MS")
    call_ms=$WAIT_BYE_MS ;;
  cancel)
    xml="$HERE/uac_cancel.xml"
    keys+=(-key cancel_ms "$CANCEL_MS")
    call_ms=$((CANCEL_MS + 1500)) ;;
  reject)
    # A call the server must refuse with EXPECT (403, 404, 480, 488 ...). CODECS/RTPMAPS
    # set the offer (default PCMU + telephone-event; e.g. CODECS=18 RTPMAPS='a=rtpmap:18 G729/8000').
    EXPECT="${EXPECT:?SCENARIO=reject needs EXPECT=status}"
    CODECS="${CODECS:-0 101}"
    RTPMAPS="${RTPMAPS:-a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000}"
    export EXPECT CODECS RTPMAPS
    xml="$RUN_DIR/uac_reject.xml"
    render "$HERE/uac_reject.xml.in" "$xml"
    call_ms=$(( ${RING_S:-0} * 1000 + 3000 )) ;;
  announce)
    # Early media (183 + SDP, an announcement the server plays), then EXPECT (480 ...).
    EXPECT="${EXPECT:?SCENARIO=announce needs EXPECT=status}"
    export EXPECT
    xml="$RUN_DIR/uac_early_media.xml"
    render "$HERE/uac_early_media.xml.in" "$xml"
    call_ms=$(( ${ANNOUNCE_MS:-10000} + 3000 )) ;;
  announce_cancel)
    xml="$HERE/uac_early_media_cancel.xml"
    keys+=(-key cancel_ms "$CANCEL_MS")
    call_ms=$((CANCEL_MS + 1500)) ;;
  load)
    xml="$HERE/uac_load.xml"
    HOLD_MS="${HOLD_MS:-0}"
    keys+=(-d "$HOLD_MS")
    call_ms=$((HOLD_MS + 500)) ;;
  *) die "SCENARIO must be pcap|rtpstream|waitbye|cancel|reject|announce|announce_cancel|load" ;;
esac
# watchdog: time to start all calls + one call length + margin
TIMEOUT_S="${TIMEOUT_S:-$(( CALLS / RATE + call_ms / 1000 + 30 ))}"

if [[ "$REC" == 1 ]]; then
  bg_start tshark tshark -i lo -n -q -f "udp dst port $CALLER_RTP_PORT" -F pcap -w "$RUN_DIR/rx.pcap"
  TSHARK_PID=$BG_PID
  for _ in $(seq 50); do grep -q "Capturing on" "$RUN_DIR/tshark.log" && break; sleep 0.1; done
fi

trace=(-trace_err -error_file "$RUN_DIR/errors.log" -trace_screen -screen_file "$RUN_DIR/screen.log"
       -trace_stat -stf "$RUN_DIR/stat.csv" -fd 1 -trace_rtt -rtt_freq 1 -trace_counts)
(( CALLS <= 20 )) && trace+=(-trace_msg -message_file "$RUN_DIR/messages.log")
[[ -n "${LIMIT:-}" ]] && trace+=(-l "$LIMIT")

cd "$RUN_DIR"   # sipp writes *_rtt.csv / *_counts.csv into the cwd
# shellcheck disable=SC2086
bg_start sipp sipp "$SUT_IP:$SUT_PORT" -sf "$xml" -t "$TRANSPORT" \
  -i "$PEER_IP" -p "$CALLER_SIP_PORT" -bind_local -ci "$PEER_IP" \
  -mi "$PEER_IP" -mp "$CALLER_RTP_PORT" -s "$SERVICE" "${keys[@]}" \
  -m "$CALLS" -r "$RATE" -buff_size "${SIPP_BUFF:-4194304}" -nostdin -timeout "${TIMEOUT_S}s" -timeout_error \
  "${trace[@]}" ${EXTRA_SIPP_ARGS:-}
SIPP_PID=$BG_PID
rc=0; wait_pid "$SIPP_PID" $((TIMEOUT_S + 15)) || rc=$?
[[ $rc == 124 ]] && { log "sipp did not finish in time"; stop_pid "$SIPP_PID" USR1; }

if [[ "$REC" == 1 ]]; then
  sleep 0.5; stop_pid "$TSHARK_PID" INT
  python3 "$PEERS_DIR/tools/rtp_sink.py" --pcap "$RUN_DIR/rx.pcap" --udp-port "$CALLER_RTP_PORT" \
    --wav "$RUN_DIR/rx.wav" --json "$RUN_DIR/rx.json" >/dev/null || true
fi
python3 "$PEERS_DIR/tools/sipp_summary.py" "$RUN_DIR" >"$RUN_DIR/summary.json" || true
cat "$RUN_DIR/summary.json" >&2
log "sipp exit code $rc; results in $RUN_DIR"
echo "$RUN_DIR"
exit "$rc"
