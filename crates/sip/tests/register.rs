//! REGISTER: the registering client against the registrar core, back to back.

mod common;

use std::time::Duration;

use common::*;
use denwa_sip::registrar::RegistrarConfig;
use denwa_sip::{Config, Event, RegisterParams, RegistrationHandle, Transport};

fn pair_with_registrar() -> Pair {
    let mut reg = RegistrarConfig::new("denwa.example");
    reg.users.insert("alice".into(), "s3cret".into());
    reg.min_expires = 60;
    reg.max_expires = 600;
    let mut b = Config::new(addr(DENWA), 2);
    b.registrar = Some(reg);
    Pair::with_configs(Config::new(addr(A_ADDR), 1), b)
}

fn params(user: &str, password: &str, expires: u32) -> RegisterParams {
    RegisterParams {
        aor: format!("sip:{user}@denwa.example"),
        registrar: addr(DENWA),
        registrar_uri: "sip:denwa.example".into(),
        transport: Transport::Udp,
        expires,
        credentials: Some((user.into(), password.into())),
    }
}

fn registered(p: &mut Pair, expires: u32) -> RegistrationHandle {
    let h = p.a.register(p.now, params("alice", "s3cret", expires));
    p.drive();
    h
}

#[test]
fn register_is_challenged_then_bound() {
    let mut p = pair_with_registrar();
    let h = registered(&mut p, 300);
    assert_eq!(p.wire_count(Side::B, "SIP/2.0 401"), 1);
    assert_eq!(
        p.a_events,
        vec![Event::Registered {
            registration: h,
            expires: 300
        }]
    );
    let Some(Event::BindingsChanged { aor, bindings }) = p.b_events.pop() else {
        panic!("registrar reports the binding");
    };
    assert_eq!(aor, "sip:alice@denwa.example");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].source, addr(A_ADDR));
    assert_eq!(
        p.b.lookup_bindings("sip:alice@denwa.example", p.now).len(),
        1
    );
}

#[test]
fn wrong_password_is_refused_with_403() {
    let mut p = pair_with_registrar();
    let h = p.a.register(p.now, params("alice", "nope", 300));
    p.drive();
    assert_eq!(
        p.a_events,
        vec![Event::RegistrationFailed {
            registration: h,
            status: 403
        }]
    );
    assert!(
        p.b.lookup_bindings("sip:alice@denwa.example", p.now)
            .is_empty()
    );
}

#[test]
fn expiry_above_maximum_is_cut_down() {
    let mut p = pair_with_registrar();
    let h = registered(&mut p, 7200);
    assert_eq!(
        p.a_events,
        vec![Event::Registered {
            registration: h,
            expires: 600
        }]
    );
}

#[test]
fn too_brief_expiry_is_raised_after_423() {
    let mut p = pair_with_registrar();
    let h = registered(&mut p, 10);
    assert_eq!(p.wire_count(Side::B, "SIP/2.0 423"), 1);
    assert_eq!(
        p.a_events,
        vec![Event::Registered {
            registration: h,
            expires: 60
        }]
    );
}

#[test]
fn client_refreshes_at_half_the_granted_expiry() {
    let mut p = pair_with_registrar();
    registered(&mut p, 300);
    let before = p.wire_count(Side::A, "REGISTER");
    p.advance(Duration::from_secs(149));
    assert_eq!(p.wire_count(Side::A, "REGISTER"), before);
    p.advance(Duration::from_secs(2));
    assert!(p.wire_count(Side::A, "REGISTER") > before);
    assert_eq!(
        p.a_events.len(),
        2,
        "registered, then refreshed: {:?}",
        p.a_events
    );
}

#[test]
fn binding_lapses_without_refresh() {
    let mut p = pair_with_registrar();
    registered(&mut p, 300);
    p.drop_if = Box::new(|side, line| side == Side::A && line.starts_with("REGISTER"));
    p.b_events.clear();
    p.advance(Duration::from_secs(301));
    assert_eq!(
        p.b_events,
        vec![Event::BindingExpired {
            aor: "sip:alice@denwa.example".into(),
            contact: "sip:denwa@192.0.2.20:5060".into()
        }]
    );
    assert!(
        p.b.lookup_bindings("sip:alice@denwa.example", p.now)
            .is_empty()
    );
}

#[test]
fn unregister_removes_the_binding() {
    let mut p = pair_with_registrar();
    let h = registered(&mut p, 300);
    p.a.unregister(p.now, h).expect("known registration");
    p.drive();
    assert!(
        p.b.lookup_bindings("sip:alice@denwa.example", p.now)
            .is_empty()
    );
}

#[test]
fn timer_f_fails_a_register_to_nowhere_with_408() {
    let mut raw = Raw::new();
    let h = raw.ep.register(raw.now, params("alice", "x", 300));
    raw.drain();
    raw.advance(Duration::from_secs(33));
    let times: Vec<u128> = raw.sent.iter().map(|(at, _)| at.as_millis()).collect();
    // Timer E: T1 doubling capped at T2 = 4 s, until timer F at 64·T1.
    assert_eq!(
        times,
        vec![
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::RegistrationFailed {
            registration: h,
            status: 408
        }]
    );
}

#[test]
fn register_without_registrar_role_gets_405() {
    let mut p = Pair::new();
    let h = p.a.register(p.now, params("alice", "s3cret", 300));
    p.drive();
    assert_eq!(
        p.a_events,
        vec![Event::RegistrationFailed {
            registration: h,
            status: 405
        }]
    );
}

#[test]
fn accounts_replaced_at_run_time_apply_to_the_next_register() {
    let mut p = pair_with_registrar();
    let bob = p.a.register(p.now, params("bob", "pw-b", 300));
    p.drive();
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, Event::RegistrationFailed { registration, status: 403 } if *registration == bob)),
        "{:?}",
        p.a_events
    );
    let mut users = std::collections::HashMap::new();
    users.insert("bob".to_owned(), "pw-b".to_owned());
    p.b.set_registrar_users(users);
    p.a_events.clear();
    let again = p.a.register(p.now, params("bob", "pw-b", 300));
    p.drive();
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, Event::Registered { registration, .. } if *registration == again)),
        "{:?}",
        p.a_events
    );
    // alice's account is gone with the replacement.
    p.a_events.clear();
    let alice = p.a.register(p.now, params("alice", "s3cret", 300));
    p.drive();
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, Event::RegistrationFailed { registration, status: 403 } if *registration == alice)),
        "{:?}",
        p.a_events
    );
}
