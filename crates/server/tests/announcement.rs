//! A channel's own audio with real peers: a caller nobody answers hears the channel's
//! uploaded announcement as early media (183 with SDP) and is then refused with 480; a
//! caller who hangs up during it leaves no media behind; an unusable file is skipped
//! (a warning, never a crash) for the routing's named announcement, or none; and a held
//! customer hears the channel's uploaded hold music instead of the built-in pattern.

mod sip_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sip_support::{
    Server, get_json, login, peers, require, server_with_a_registered_softphone, sipp_caller,
    wavcmp,
};

/// The demo channel's number, dialled as a carrier sends it.
const CHANNEL_NUMBER: &str = "05012345678";

/// A spoken announcement made with espeak-ng, as a 44.1 kHz stereo WAV file (what an
/// audio editor exports): the server must mix it down and resample it.
fn spoken_announcement(dir: &Path) -> PathBuf {
    require("espeak-ng", "espeak-ng");
    require("sox", "sox");
    let src = dir.join("announcement-src.wav");
    let out = dir.join("announcement.wav");
    let ok = Command::new("espeak-ng")
        .args(["-s", "160", "-v", "en-us", "-w"])
        .arg(&src)
        .arg("Thank you for calling. Nobody can take your call right now. Please call again later.")
        .status()
        .unwrap()
        .success();
    assert!(ok, "espeak-ng failed");
    let ok = Command::new("sox")
        .arg(&src)
        .args(["-r", "44100", "-c", "2", "-b", "16", "-e", "signed-integer"])
        .arg(&out)
        .status()
        .unwrap()
        .success();
    assert!(ok, "sox failed");
    out
}

/// A PUT of raw bytes as `audio/wav`; (status, body).
fn upload(server: &Server, token: &str, kind: &str, file: &[u8]) -> (u16, String) {
    sip_support::http_body(
        server.http_port,
        "PUT",
        &format!("/api/v1/channels/1/audio/{kind}"),
        Some(token),
        "audio/wav",
        file,
    )
}

/// The first channel's 16-bit samples of a WAV file and its rate.
fn wav(path: &Path) -> (Vec<i16>, u32) {
    let b = std::fs::read(path).unwrap();
    let channels = usize::from(u16::from_le_bytes(b[22..24].try_into().unwrap()));
    let rate = u32::from_le_bytes(b[24..28].try_into().unwrap());
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        if &b[at..at + 4] == b"data" {
            let data = &b[at + 8..(at + 8 + len).min(b.len())];
            let s = data
                .chunks_exact(2 * channels)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (s, rate);
        }
        at += 8 + len;
    }
    panic!("no data chunk in {}", path.display());
}

/// Seconds from the first to the last sample louder than a whisper.
fn sounding(samples: &[i16], rate: u32) -> f64 {
    let loud = |s: &&i16| s.unsigned_abs() > 300;
    let first = samples.iter().position(|s| loud(&s));
    let last = samples.iter().rposition(|s| loud(&s));
    match (first, last) {
        (Some(a), Some(b)) => (b - a) as f64 / f64::from(rate),
        _ => 0.0,
    }
}

/// Media legs running now, from `/metrics`.
fn media_legs(server: &Server) -> i64 {
    let (status, body) = sip_support::http(server, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with("denwa_media_legs "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no denwa_media_legs in /metrics:\n{body}"))
}

/// The outcome and missed reason of the only call of the caller's chat.
fn missed_reason(server: &Server, token: &str, caller_e164: &str) -> String {
    let chats = get_json(
        server,
        token,
        "/api/v1/channels/1/chats?medium=phone&limit=50",
    );
    let chat = chats["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"]["phones"][0]["number"] == caller_e164)
        .unwrap_or_else(|| panic!("no chat for {caller_e164}: {chats}"))
        .clone();
    let calls = get_json(
        server,
        token,
        &format!("/api/v1/channels/1/chats/{}/calls", chat["id"]),
    );
    let call = &calls.as_array().unwrap()[0];
    assert_eq!(call["outcome"], "missed", "{call}");
    call["missed_reason"].as_str().unwrap().to_owned()
}

#[test]
fn a_caller_nobody_answers_hears_the_channels_announcement_as_early_media_then_480() {
    let server = Server::start(&[]);
    let token = login(&server);
    let file = spoken_announcement(server.dir.path());
    let bytes = std::fs::read(&file).unwrap();
    let (status, body) = upload(&server, &token, "announcement", &bytes);
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["sample_rate"], 44_100);
    assert_eq!(info["channels"], 2);
    let length_ms = info["duration_ms"].as_u64().unwrap();
    assert!(length_ms > 3000, "{info}");

    // Nobody online: the call is not answered; the caller gets 183, the announcement, 480.
    let started = Instant::now();
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", CHANNEL_NUMBER),
            ("CALLER", "0312348888"),
            ("SCENARIO", "announce"),
            ("EXPECT", "480"),
            ("ANNOUNCE_MS", &length_ms.to_string()),
            ("REC", "1"),
        ],
    );
    run.assert_ok(&server, "SIPp caller: 183 early media, then 480");
    assert!(
        started.elapsed() >= Duration::from_millis(length_ms),
        "refused before the announcement could have played"
    );
    let messages = run.file("messages.log");
    let early = messages.find("SIP/2.0 183").expect("a 183");
    let refused = messages.find("SIP/2.0 480").expect("a 480");
    assert!(early < refused, "183 before 480");
    // Never answered: no 200 at all (nothing to bill).
    assert!(!messages.contains("SIP/2.0 200"), "{messages}");

    // What the caller heard is the announcement, once.
    let rx = run.run_dir.join("rx.wav");
    let (ok, cmp) = wavcmp(&file, &rx);
    assert!(ok, "the caller did not hear the announcement: {cmp}");
    let (heard, rate) = wav(&rx);
    let (reference, ref_rate) = wav(&file);
    let (heard_s, said_s) = (sounding(&heard, rate), sounding(&reference, ref_rate));
    assert!(
        (heard_s - said_s).abs() < 0.5,
        "heard {heard_s:.2} s of sound for a {said_s:.2} s announcement"
    );

    let log = server.log();
    assert!(log.contains("announcement (early media)"), "{log}");
    assert!(
        log.contains("announcement played: refusing the call"),
        "{log}"
    );
    assert_eq!(missed_reason(&server, &token, "+81312348888"), "noOperator");
    // The announcement's media is gone.
    let end = Instant::now() + Duration::from_secs(3);
    while media_legs(&server) != 0 {
        assert!(Instant::now() < end, "media legs left running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_caller_who_hangs_up_during_the_announcement_leaves_no_media_behind() {
    let server = Server::start(&[]);
    let token = login(&server);
    let file = spoken_announcement(server.dir.path());
    let (status, body) = upload(
        &server,
        &token,
        "announcement",
        &std::fs::read(&file).unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", CHANNEL_NUMBER),
            ("CALLER", "0312347777"),
            ("SCENARIO", "announce_cancel"),
            ("CANCEL_MS", "1000"),
        ],
    );
    run.assert_ok(&server, "SIPp caller cancelling during the announcement");
    let log = server.log();
    assert!(log.contains("announcement (early media)"), "{log}");
    assert!(log.contains("caller cancelled"), "{log}");
    assert!(!log.contains("announcement played"), "{log}");
    let end = Instant::now() + Duration::from_secs(3);
    while media_legs(&server) != 0 {
        assert!(Instant::now() < end, "media legs left running");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The announcement's deadline passes without a second final response or a crash.
    std::thread::sleep(Duration::from_secs(2));
    let mut server = server;
    assert!(server.alive());

    // The next caller still gets the whole announcement and the 480.
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", CHANNEL_NUMBER),
            ("CALLER", "0312346666"),
            ("SCENARIO", "announce"),
            ("EXPECT", "480"),
        ],
    );
    run.assert_ok(&server, "the next caller: 183, then 480");
}

#[test]
fn an_unusable_announcement_file_is_skipped_with_a_warning_and_the_routings_named_one_is_next() {
    let server = Server::start(&[]);
    // Put there by hand (the API would refuse it): an MP3, not a WAV file.
    let dir = server.dir.path().join("data/channels/1/audio");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("announcement.wav"), b"ID3\x04\x00 an mp3 file").unwrap();
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", CHANNEL_NUMBER),
            ("CALLER", "0312345555"),
            ("SCENARIO", "reject"),
            ("EXPECT", "480"),
        ],
    );
    run.assert_ok(&server, "SIPp caller refused with 480 without early media");
    assert!(!run.file("messages.log").contains("SIP/2.0 183"));
    let log = server.log();
    assert!(log.contains("audio file not usable"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // The announcement the routing names (`DATA_DIR/announcements/<name>.wav`) still
    // plays when the channel's own file cannot.
    let token = login(&server);
    let mut routing = get_json(&server, &token, "/api/v1/channels/1/routing");
    routing["announcement"] = "closed".into();
    let (status, body) = sip_support::http(
        &server,
        "PUT",
        "/api/v1/channels/1/routing",
        Some(&token),
        &routing.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let named = server.dir.path().join("data/announcements");
    std::fs::create_dir_all(&named).unwrap();
    std::fs::write(named.join("closed.wav"), tone_wav()).unwrap();
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", CHANNEL_NUMBER),
            ("CALLER", "0312345544"),
            ("SCENARIO", "announce"),
            ("EXPECT", "480"),
            ("ANNOUNCE_MS", "2000"),
        ],
    );
    run.assert_ok(&server, "SIPp caller: the routing's announcement, then 480");
    assert!(server.log().contains("announcement played"));
}

/// A 1 kHz tone, 2 s, as an 8 kHz mono WAV file.
fn tone_wav() -> Vec<u8> {
    let rate = 8000u32;
    let data: Vec<u8> = (0..2 * rate)
        .flat_map(|i| {
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin())
                as i16;
            s.to_le_bytes()
        })
        .collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

/// Goertzel amplitude of `freq` in `x`.
fn goertzel(x: &[i16], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

#[test]
fn a_held_caller_hears_the_channels_uploaded_hold_music() {
    let (server, phone) = server_with_a_registered_softphone(&[]);
    let token = login(&server);
    let (status, body) = upload(&server, &token, "hold-music", &tone_wav());
    assert_eq!(status, 200, "{body}");
    // The softphone answers silently, holds at 2 s and resumes at 5 s.
    let dir = server.dir.path().to_owned();
    let scenario = peers().join("sipp/uas_hold.xml");
    let softphone = std::thread::spawn(move || {
        Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .args(["-i", "127.0.0.1", "-p", &phone.to_string()])
            .args(["-mp", &(phone + 4).to_string(), "-m", "1", "-nostdin"])
            .args(["-timeout", "90s", "-timeout_error"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    });
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::UdpSocket::bind(("127.0.0.1", phone)).is_ok() {
        assert!(Instant::now() < end, "the SIPp softphone did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = sipp_caller(&server, &[("SERVICE", CHANNEL_NUMBER), ("REC", "1")]);
    run.assert_ok(&server, "SIPp customer calling the channel number");
    assert!(softphone.join().unwrap().success(), "{}", server.log());
    assert!(server.log().contains("cmd=HoldMusic"), "{}", server.log());

    // While held the caller hears the channel's 1 kHz tone, not the built-in arpeggio
    // (notes between 174 and 523 Hz); before and after, the silent softphone.
    let (heard, rate) = wav(&run.run_dir.join("rx.wav"));
    let r = f64::from(rate);
    let part = |from: f64, to: f64| &heard[(from * r) as usize..(to * r) as usize];
    let held = part(2.6, 4.6);
    let tone = goertzel(held, r, 1000.0);
    assert!(tone > 3000.0, "no 1 kHz hold music while held ({tone:.0})");
    for note in [261.6, 329.6, 392.0] {
        let level = goertzel(held, r, note);
        assert!(level < 200.0, "built-in music at {note} Hz ({level:.0})");
    }
    assert!(goertzel(part(0.3, 1.6), r, 1000.0) < 100.0);
    assert!(goertzel(part(6.0, 9.0), r, 1000.0) < 100.0);
}
