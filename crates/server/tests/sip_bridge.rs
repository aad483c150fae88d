//! A call to a channel number rings the softphones its staff registered, and the first
//! to answer is bridged with the caller: SIPp registers as a staff member's softphone and
//! then answers as the callee, echoing what it hears; a second SIPp is the customer.
//! The speech goes through both legs and back, and the call is recorded per leg.

mod sip_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sip_support::{peers, server_with_a_registered_softphone, sipp_callee, sipp_caller, wavcmp};

/// Every file named `name` under `dir`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_call_to_the_channel_number_rings_the_staff_softphone_and_is_bridged_and_recorded() {
    let (server, phone) = server_with_a_registered_softphone(&["--record-calls"]);
    let answering = sipp_callee(&server, phone, &[("MODE", "echo"), ("RING_MS", "300")]);

    // The demo channel's number, dialled as a carrier sends it.
    let run = sipp_caller(&server, &[("SERVICE", "05012345678"), ("REC", "1")]);
    run.assert_ok(&server, "SIPp customer calling the channel number");
    let phone_run = answering.join().unwrap();
    phone_run.assert_ok(&server, "SIPp softphone answering (and getting our BYE)");

    let log = server.log();
    assert!(log.contains("ringing a softphone"), "{log}");
    assert!(log.contains("room started"), "{log}");
    // The customer's speech reached the softphone ...
    let (ok, cmp) = wavcmp(
        &peers().join("media/speech_8k.wav"),
        &phone_run.run_dir.join("rx.wav"),
    );
    assert!(ok, "the softphone did not hear the customer: {cmp}");
    // ... and what the softphone said (its echo of it) reached the customer.
    let (ok, cmp) = wavcmp(
        &peers().join("media/speech_8k.wav"),
        &run.run_dir.join("rx.wav"),
    );
    assert!(ok, "the customer did not hear the softphone: {cmp}");

    // One track per leg and the mix, each holding the speech.
    let recordings = server.dir.path().join("data").join("recordings");
    for track in ["leg-1.wav", "leg-2.wav", "mixed.wav"] {
        let files = find(&recordings, track);
        assert_eq!(files.len(), 1, "{track} under {}", recordings.display());
        let (ok, cmp) = wavcmp(&peers().join("media/speech_8k.wav"), &files[0]);
        assert!(ok, "{track} does not hold the speech: {cmp}");
    }
}

/// 16-bit mono PCM samples of a WAV file and its rate.
fn wav(path: &Path) -> (Vec<i16>, u32) {
    let b = std::fs::read(path).unwrap();
    let rate = u32::from_le_bytes(b[24..28].try_into().unwrap());
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        if &b[at..at + 4] == b"data" {
            let data = &b[at + 8..(at + 8 + len).min(b.len())];
            let s = data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (s, rate);
        }
        at += 8 + len;
    }
    panic!("no data chunk in {}", path.display());
}

/// RMS of `samples` between `from` and `to` seconds.
fn rms(samples: &[i16], rate: u32, from: f64, to: f64) -> f64 {
    let a = ((from * f64::from(rate)) as usize).min(samples.len());
    let b = ((to * f64::from(rate)) as usize).min(samples.len());
    let part = &samples[a..b];
    assert!(!part.is_empty(), "the recording ends before {from} s");
    (part.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / part.len() as f64).sqrt()
}

#[test]
fn hold_on_the_softphone_plays_hold_music_to_the_caller_until_it_resumes() {
    let (server, phone) = server_with_a_registered_softphone(&[]);
    // The softphone answers silently, holds at 2 s and resumes at 5 s.
    let dir = server.dir.path().to_owned();
    let scenario = peers().join("sipp/uas_hold.xml");
    let softphone = std::thread::spawn(move || {
        Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .args(["-i", "127.0.0.1", "-p", &phone.to_string()])
            .args(["-mp", &(phone + 4).to_string(), "-m", "1", "-nostdin"])
            .args([
                "-timeout",
                "90s",
                "-timeout_error",
                "-trace_msg",
                "-message_file",
            ])
            .arg(dir.join("hold-phone.log"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::UdpSocket::bind(("127.0.0.1", phone)).is_ok() {
        assert!(
            std::time::Instant::now() < end,
            "the SIPp softphone did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = sipp_caller(&server, &[("SERVICE", "05012345678"), ("REC", "1")]);
    run.assert_ok(&server, "SIPp customer calling the channel number");
    let status = softphone.join().unwrap();
    assert!(
        status.success(),
        "softphone: {}\nserver:\n{}",
        std::fs::read_to_string(server.dir.path().join("hold-phone.log")).unwrap_or_default(),
        server.log()
    );
    let log = server.log();
    assert!(log.contains("cmd=Hold"), "{log}");
    assert!(log.contains("cmd=Unhold"), "{log}");
    // What the caller heard: silence from the silent phone, music while held.
    let (heard, rate) = wav(&run.run_dir.join("rx.wav"));
    let before = rms(&heard, rate, 0.3, 1.6);
    let held = rms(&heard, rate, 2.6, 4.6);
    let after = rms(&heard, rate, 6.0, 9.0);
    assert!(held > 300.0, "no hold music while held (RMS {held:.0})");
    assert!(
        before < 50.0 && after < 50.0,
        "sound outside the hold: {before:.0} / {after:.0}"
    );
}
