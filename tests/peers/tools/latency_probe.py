#!/usr/bin/env python3
"""Server-added latency on the wire: calls an echo number over SIP/UDP (a minimal UAC:
INVITE -> 1xx -> 200 -> ACK ... BYE), then sends 20 ms PCMU frames of silence with a 1 kHz
"click" frame every --click-every frames. Each packet leaves at its scheduled instant plus a
uniform random delay in [0, --jitter-ms] (packets may overtake each other, as on a jittery
network). A receiver thread timestamps every returned packet; the first returned packet in
which a click's energy appears (sample offset inside the frame included) is matched to the
click sent last before it.

  added   = t(click's first sample back) - t(click packet actually sent)   -> what the server
            adds (jitter buffer, waiting for the 20 ms tick, decode/encode); the loopback
            network (~0.05 ms) is not subtracted.
  vs_plan = the same measured from the click's scheduled (un-jittered) send time, i.e. added
            plus the network jitter this probe simulated.

  latency_probe.py --sip 127.0.0.1:5060 --number 9196 --seconds 30 --jitter-ms 30 --json out.json
Prints one JSON object (also written to --json). Standard library only."""
import argparse
import json
import math
import os
import random
import re
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g711  # noqa: E402

IDS = random.SystemRandom()  # SIP identifiers: unique per run even with --seed

FRAME = 160  # 20 ms of 8 kHz


def pct(vals, p):
    if not vals:
        return None
    s = sorted(vals)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return round(s[k], 2)


class Uac:
    def __init__(self, server, number, local_ip, rtp_port):
        self.server = server
        self.number = number
        self.ip = local_ip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.port = self.sock.getsockname()[1]
        self.rtp_port = rtp_port
        self.call_id = "%x@latency-probe" % IDS.getrandbits(64)
        self.tag = "%x" % IDS.getrandbits(32)
        self.to = None
        self.contact = None
        self.route = []
        self.cseq = 1

    def _via(self):
        return "SIP/2.0/UDP %s:%d;branch=z9hG4bK%x;rport" % (self.ip, self.port, IDS.getrandbits(48))

    def _request(self, method, uri, cseq_method=None, body="", via=None):
        lines = [
            "%s %s SIP/2.0" % (method, uri),
            "Via: " + (via or self._via()),
            "Max-Forwards: 70",
            "From: <sip:latency-probe@%s:%d>;tag=%s" % (self.ip, self.port, self.tag),
            "To: " + (self.to or "<sip:%s@%s:%d>" % (self.number, *self.server)),
            "Call-ID: " + self.call_id,
            "CSeq: %d %s" % (self.cseq, cseq_method or method),
            "Contact: <sip:latency-probe@%s:%d>" % (self.ip, self.port),
        ]
        lines += ["Route: " + r for r in self.route]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        m = re.match(r"SIP/2.0 (\d+)", lines[0])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        return (int(m.group(1)) if m else None, lines[0], hdrs, body)

    def invite(self):
        sdp = ("v=0\r\no=probe 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
               "m=audio {p} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
               "a=sendrecv\r\n").format(ip=self.ip, p=self.rtp_port)
        uri = "sip:%s@%s:%d" % (self.number, *self.server)
        via = self._via()
        msg = self._request("INVITE", uri, body=sdp, via=via)
        deadline = time.time() + 10
        t1 = 0.5
        self.sock.sendto(msg, self.server)
        provisional = False
        while time.time() < deadline:
            r = self._recv(t1)
            if r is None:
                if not provisional:
                    self.sock.sendto(msg, self.server)
                    t1 = min(t1 * 2, 4)
                continue
            code, first, hdrs, body = r
            if code is None:
                continue
            if code < 200:
                provisional = True
                continue
            if code >= 300:
                raise SystemExit("INVITE answered %s" % first)
            self.to = hdrs["to"][0]
            self.contact = re.search(r"<([^>]+)>", hdrs.get("contact", ["<%s>" % uri])[0]).group(1)
            self.route = list(reversed(hdrs.get("record-route", [])))
            c = re.search(r"c=IN IP4 (\S+)", body)
            m = re.search(r"m=audio (\d+)", body)
            ack = self._request("ACK", self.contact, "ACK")
            self.sock.sendto(ack, self.server)
            return (c.group(1), int(m.group(1)))
        raise SystemExit("no final answer to INVITE")

    def bye(self):
        self.cseq += 1
        msg = self._request("BYE", self.contact)
        for _ in range(4):
            self.sock.sendto(msg, self.server)
            r = self._recv(0.5)
            while r is not None and r[0] is None:
                r = self._recv(0.5)
            if r is not None and r[0] and r[0] >= 200:
                return r[0]
        return None


def frames(n_frames, click_every):
    silence = bytes([0xFF]) * FRAME
    pcm = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 1000 * i / 8000))) for i in range(FRAME))
    click = g711.lin2ulaw(pcm)
    return [click if (k % click_every == click_every // 2) else silence for k in range(n_frames)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sip", default="127.0.0.1:5060")
    ap.add_argument("--number", default="9196")
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--jitter-ms", type=float, default=30)
    ap.add_argument("--click-every", type=int, default=12, help="frames between clicks")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    random.seed(a.seed)
    host, port = a.sip.rsplit(":", 1)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((a.ip, 0))
    rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    uac = Uac((host, int(port)), a.number, a.ip, rtp.getsockname()[1])
    remote = uac.invite()

    n = int(a.seconds * 50)
    payloads = frames(n, a.click_every)
    ssrc = random.getrandbits(32)
    seq0, ts0 = random.getrandbits(16), random.getrandbits(32)
    start = time.monotonic() + 0.2
    plan = []  # (actual send time, frame index)
    for k in range(n):
        plan.append((start + k * 0.020 + random.uniform(0, a.jitter_ms / 1000.0), k))
    plan.sort()
    sent_at = [None] * n
    received = []  # (arrival monotonic, seq, payload)
    stop = threading.Event()

    def receiver():
        rtp.settimeout(0.2)
        while not stop.is_set():
            try:
                data, _ = rtp.recvfrom(2048)
            except socket.timeout:
                continue
            t = time.monotonic()
            if len(data) < 12 or (data[1] & 0x7F) != 0:
                continue
            cc = data[0] & 0x0F
            received.append((t, struct.unpack("!H", data[2:4])[0], data[12 + 4 * cc:]))

    th = threading.Thread(target=receiver, daemon=True)
    th.start()
    for t, k in plan:
        while True:
            d = t - time.monotonic()
            if d <= 0:
                break
            time.sleep(d - 0.0005 if d > 0.001 else 0)
        hdr = struct.pack("!BBHII", 0x80, 0x80 if k == 0 else 0, (seq0 + k) & 0xFFFF,
                          (ts0 + k * FRAME) & 0xFFFFFFFF, ssrc)
        sent_at[k] = time.monotonic()
        rtp.sendto(hdr + payloads[k], remote)
    time.sleep(0.6)
    stop.set()
    th.join()
    bye = uac.bye()

    # returned stream in arrival order; onset = first packet with energy after a quiet one
    clicks = [k for k in range(n) if k % a.click_every == a.click_every // 2]
    added, vs_plan = [], []
    quiet = True
    used = set()
    for t, _seq, payload in received:
        pcm = g711.ulaw2lin(payload)
        samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm)
        hit = next((i for i, s in enumerate(samples) if abs(s) > 3000), None)
        if hit is None:
            quiet = True
            continue
        if not quiet:
            continue
        quiet = False
        # Packet to packet (both ends send a frame once it is complete), plus the click's
        # offset inside the returned frame (resampling delay can shift it a few samples).
        t_click = t + hit / 8000.0
        cands = [k for k in clicks if sent_at[k] is not None and sent_at[k] <= t_click and k not in used]
        if not cands:
            continue
        k = max(cands, key=lambda c: sent_at[c])
        used.add(k)
        added.append((t_click - sent_at[k]) * 1000.0)
        vs_plan.append((t_click - (start + k * 0.020)) * 1000.0)
    out = {
        "remote_rtp": "%s:%d" % remote,
        "frames_sent": n,
        "packets_back": len(received),
        "clicks_sent": len(clicks),
        "clicks_back": len(added),
        "jitter_ms": a.jitter_ms,
        "added_ms": {"p50": pct(added, 50), "p99": pct(added, 99), "max": pct(added, 100),
                     "min": pct(added, 0)},
        "vs_schedule_ms": {"p50": pct(vs_plan, 50), "p99": pct(vs_plan, 99), "max": pct(vs_plan, 100)},
        "bye": bye,
    }
    s = json.dumps(out)
    print(s)
    if a.json:
        with open(a.json, "w") as f:
            f.write(s + "\n")


if __name__ == "__main__":
    main()
