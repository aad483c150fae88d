//! Inbound calls through the call service, with real SIPp callers and a staff console's
//! WebSocket: missed calls keep their chat and say why (SPEC IN-5, ST-2: `userLeft`,
//! `noOperator`, `notInOperation`), and a server killed during a call restarts with the
//! call ended (a clear reason in the timeline), its chat intact and its recording
//! readable up to the crash.

mod sip_support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sip_support::{
    Console, Server, get_json, http, login, server_with_a_registered_softphone, sipp_callee,
    sipp_caller,
};

/// The call and chat of the only call in the channel's history.
fn only_call(server: &Server, token: &str, chat_id: i64) -> Value {
    let calls = get_json(
        server,
        token,
        &format!("/api/v1/channels/1/chats/{chat_id}/calls"),
    );
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls[0].clone()
}

fn timeline_kinds(server: &Server, token: &str, chat_id: i64) -> Vec<String> {
    let chat = get_json(
        server,
        token,
        &format!("/api/v1/channels/1/chats/{chat_id}"),
    );
    chat["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_caller_who_hangs_up_while_ringing_leaves_a_missed_phone_chat_with_user_left() {
    let server = Server::start(&[]);
    let token = login(&server);
    let console = Console::open(&server, &token);

    // 山田 太郎 (090-1111-2222) calls and hangs up after 2 s of ringing.
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "05012345678"),
            ("CALLER", "09011112222"),
            ("SCENARIO", "cancel"),
            ("CANCEL_MS", "2000"),
        ],
    );
    run.assert_ok(&server, "SIPp customer cancelling");

    // The console was rung with the caller and the channel's profile fields (SPEC IN-2).
    let ringing = console.wait("call_ringing", Duration::from_secs(5), |_| true);
    let ring = &ringing["data"]["ring"];
    assert_eq!(ring["customer"]["name"], "山田 太郎", "{ringing}");
    assert_eq!(ring["customer"]["known"], true);
    assert_eq!(ring["caller"], "+819011112222");
    let fields: Vec<(&str, &str)> = ring["profile_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("会社", "山田商事"),
            ("プラン", "プロ"),
            ("メモ", "午前中の連絡を希望")
        ]
    );
    let sato = ringing["data"]["staff_ids"][0].as_i64().unwrap();
    let missed = console.wait("call_missed", Duration::from_secs(5), |_| true);
    assert_eq!(missed["data"]["missed_reason"], "userLeft");

    let chat_id = missed["chat_id"].as_i64().unwrap();
    let call = only_call(&server, &token, chat_id);
    assert_eq!(call["outcome"], "missed");
    assert_eq!(call["missed_reason"], "userLeft");
    assert_eq!(call["direction"], "inbound");
    assert_eq!(call["customer_number"], "+819011112222");
    let chat = get_json(
        &server,
        &token,
        &format!("/api/v1/channels/1/chats/{chat_id}"),
    );
    assert_eq!(chat["chat"]["medium"], "phone");
    assert_eq!(chat["chat"]["customer"]["name"], "山田 太郎");
    let kinds = timeline_kinds(&server, &token, chat_id);
    for k in [
        "chat_opened",
        "call_started",
        "call_ringing",
        "call_missed",
        "call_ended",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
    }
    let detail = get_json(
        &server,
        &token,
        &format!("/api/v1/channels/1/calls/{}", call["id"]),
    );
    let staff = detail["staff"].as_array().unwrap();
    assert_eq!(staff[0]["staff_id"], sato);
    assert_eq!(staff[0]["outcome"], "missed", "{detail}");
}

#[test]
fn with_nobody_online_an_unknown_caller_becomes_a_lead_and_the_call_is_missed_with_no_operator() {
    let server = Server::start(&[]);
    let token = login(&server);
    // No console open, no softphone registered: nobody can be rung.
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "05012345678"),
            ("CALLER", "0312349999"),
            ("SCENARIO", "reject"),
            ("EXPECT", "480"),
        ],
    );
    run.assert_ok(&server, "SIPp customer refused with 480");
    let chats = get_json(
        &server,
        &token,
        "/api/v1/channels/1/chats?medium=phone&limit=50",
    );
    let chat = chats["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"]["phones"][0]["number"] == "+81312349999")
        .unwrap_or_else(|| panic!("no chat for the new caller: {chats}"))
        .clone();
    assert_eq!(chat["customer"]["kind"], "lead");
    let call = only_call(&server, &token, chat["id"].as_i64().unwrap());
    assert_eq!(call["outcome"], "missed");
    assert_eq!(call["missed_reason"], "noOperator");
}

#[test]
fn outside_business_hours_the_call_is_missed_with_not_in_operation_and_nobody_is_rung() {
    let server = Server::start(&[]);
    let token = login(&server);
    let console = Console::open(&server, &token);
    // Closed: today (and the days around it, whatever the time zone) are holidays.
    let today = chrono_today();
    let body = format!(
        r#"{{"time_zone":"Asia/Tokyo","weekly":[],"holidays":["{}","{}","{}"]}}"#,
        today.0, today.1, today.2
    );
    let (status, reply) = http(
        &server,
        "PUT",
        "/api/v1/channels/1/business-hours",
        Some(&token),
        &body,
    );
    assert_eq!(status, 200, "{reply}");
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "05012345678"),
            ("CALLER", "09011112222"),
            ("SCENARIO", "reject"),
            ("EXPECT", "480"),
        ],
    );
    run.assert_ok(&server, "SIPp customer refused with 480");
    let missed = console.wait("call_missed", Duration::from_secs(5), |_| true);
    assert_eq!(missed["data"]["missed_reason"], "notInOperation");
    let call = only_call(&server, &token, missed["chat_id"].as_i64().unwrap());
    assert_eq!(call["missed_reason"], "notInOperation");
    let kinds = timeline_kinds(&server, &token, missed["chat_id"].as_i64().unwrap());
    assert!(!kinds.iter().any(|k| k == "call_ringing"), "{kinds:?}");
}

/// Yesterday, today and tomorrow (UTC dates; Tokyo's today is one of them).
fn chrono_today() -> (String, String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = |d: i64| {
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = secs / 86_400 + d + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let dd = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, dd)
    };
    (day(-1), day(0), day(1))
}

/// Bytes of audio data in a WAV file per its header, and the bytes actually after it.
fn wav_data(path: &Path) -> (u32, usize) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], b"RIFF", "{}", path.display());
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap());
        if &b[at..at + 4] == b"data" {
            return (len, b.len() - at - 8);
        }
        at += 8 + len as usize;
    }
    panic!("no data chunk in {}", path.display());
}

#[test]
fn a_server_killed_during_a_call_restarts_with_the_call_ended_its_chat_intact_and_its_recording_readable()
 {
    let (mut server, phone) = server_with_a_registered_softphone(&["--record-calls"]);
    let token = login(&server);
    // The softphone answers and stays; the customer talks and waits.
    let _answering = sipp_callee(&server, phone, &[("MODE", "echo"), ("RING_MS", "200")]);
    let customer = std::thread::spawn({
        let sut = server.sip_port;
        let dir = server.dir.path().to_owned();
        move || {
            sip_support::run_peer(
                "sipp/sipp_caller.sh",
                &dir,
                &[
                    ("SUT_PORT", sut.to_string()),
                    ("CALLER_SIP_PORT", sip_support::free_block(4).to_string()),
                    ("SERVICE", "05012345678".to_owned()),
                    ("CALLER", "09011112222".to_owned()),
                    ("SCENARIO", "waitbye".to_owned()),
                    ("WAIT_BYE_MS", "20000".to_owned()),
                ],
                Duration::from_secs(60),
            )
        }
    });
    server.wait_log("room started", Duration::from_secs(20));
    // Talk for a few seconds: the recording's header is rewritten every second.
    std::thread::sleep(Duration::from_secs(4));
    // The console of a staff member in the call sees it as joined.
    let live = get_json(&server, &token, "/api/v1/me/calls");
    assert_eq!(live[0]["state"], "joined", "{live}");
    server.restart(); // SIGKILL, then start again on the same data
    let token = login(&server);

    let chats = get_json(
        &server,
        &token,
        "/api/v1/channels/1/chats?medium=phone&limit=50",
    );
    let chat = chats["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"]["name"] == "山田 太郎" && c["source"] == "phone")
        .unwrap_or_else(|| panic!("the call's chat is gone: {chats}"))
        .clone();
    let chat_id = chat["id"].as_i64().unwrap();
    let calls = get_json(
        &server,
        &token,
        &format!("/api/v1/channels/1/chats/{chat_id}/calls"),
    );
    let call = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["answered_at"].is_string())
        .unwrap_or_else(|| panic!("no answered call: {calls}"))
        .clone();
    assert_eq!(call["outcome"], "answered");
    assert_eq!(call["end_reason"], "server_restarted");
    assert!(call["ended_at"].is_string());
    let chat = get_json(
        &server,
        &token,
        &format!("/api/v1/channels/1/chats/{chat_id}"),
    );
    let ended = chat["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "call_ended")
        .unwrap_or_else(|| panic!("no call_ended: {chat}"))
        .clone();
    assert_eq!(ended["data"]["reason"], "server_restarted");
    assert_eq!(ended["data"]["ended_by"], "system");
    assert!(
        ended["data"]["duration_ms"].as_i64().unwrap() >= 2000,
        "the heartbeat dates the crash: {ended}"
    );

    // The recording is readable up to the crash: headers say at least 2 s of audio, and
    // the data they promise is on disk.
    let dir = server.dir.path().join("data/recordings").join(
        call["recording"]
            .as_str()
            .expect("the call has a recording"),
    );
    for track in ["mixed.wav", "leg-1.wav"] {
        let (promised, present) = wav_data(&dir.join(track));
        assert!(promised >= 2 * 32_000, "{track}: {promised} bytes");
        assert!(
            present >= promised as usize,
            "{track}: {present} < {promised}"
        );
    }
    let index = std::fs::read_to_string(dir.join("tracks.json")).unwrap();
    assert!(index.contains("\"customer\""), "{index}");
    let _ = customer.join();
}
