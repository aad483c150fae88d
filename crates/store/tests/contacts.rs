//! SPEC OUT-6: a staff member's contacts imported into the channel's contact list: a
//! known number joins that customer, a new one becomes a lead; the apply does exactly
//! what the preview showed, in one transaction, with the usual customer events.

use denwa_core::EventKind;
use denwa_core::contacts::{ImportAction, SkipReason, read_contact_file};
use denwa_core::model::{CustomerKind, Role};
use denwa_store::{
    CustomerInput, ImportMode, NewChannel, PhoneInput, SqliteStore, Store, StoreError,
};

struct Setup {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    channel: i64,
    other: i64,
    staff: i64,
    yamada: i64,
    lead: i64,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("contacts.sqlite3"))
        .await
        .unwrap();
    let mut channels = Vec::new();
    for (name, number) in [("A", "050-1111-1111"), ("B", "050-2222-2222")] {
        channels.push(
            store
                .create_channel(NewChannel {
                    name: name.into(),
                    region: "JP".into(),
                    time_zone: "Asia/Tokyo".into(),
                    phone_numbers: vec![number.into()],
                })
                .await
                .unwrap()
                .id,
        );
    }
    let staff = store
        .create_staff("a@example.com", "A", "pw-123456")
        .await
        .unwrap()
        .id;
    store
        .add_member(channels[0], staff, Role::Operator, true)
        .await
        .unwrap();
    let customer = |name: &str, numbers: &[&str]| CustomerInput {
        name: Some(name.into()),
        kind: Some(CustomerKind::Member),
        phones: Some(
            numbers
                .iter()
                .map(|n| PhoneInput {
                    number: (*n).into(),
                    mobile: None,
                })
                .collect(),
        ),
        ..Default::default()
    };
    let (yamada, _) = store
        .create_customer(channels[0], customer("山田 太郎", &["090-1111-2222"]), None)
        .await
        .unwrap();
    // A lead an unknown caller left: a number, no name.
    let (lead, _) = store
        .create_customer(channels[0], customer("", &["03-5555-1234"]), None)
        .await
        .unwrap();
    // Channel B has a customer with the number that is new to channel A.
    store
        .create_customer(
            channels[1],
            customer("B's customer", &["06-6543-2100"]),
            None,
        )
        .await
        .unwrap();
    Setup {
        _dir: dir,
        store,
        channel: channels[0],
        other: channels[1],
        staff,
        yamada: yamada.id,
        lead: lead.id,
    }
}

const FILE: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:山田さん（携帯）\r\nTEL;TYPE=CELL:090-1111-2222\r\nTEL:080-9999-0000\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:新規 顧客\r\nTEL:06-6543-2100\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:折り返し\r\n  の人\r\nTEL:03-5555-1234\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:番号なし\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:重複\r\nTEL:+81-6-6543-2100\r\nEND:VCARD\r\n";

async fn customer_count(s: &SqliteStore, channel: i64) -> usize {
    s.search_customers(channel, "", 200).await.unwrap().len()
}

#[tokio::test]
async fn preview_changes_nothing_and_apply_does_exactly_what_it_showed() {
    let t = setup().await;
    let s = &t.store;
    let file = read_contact_file(FILE.as_bytes(), Some("text/vcard")).unwrap();

    let (preview, events) = s
        .import_contacts(t.channel, &file, ImportMode::Preview, Some(t.staff))
        .await
        .unwrap();
    assert!(events.is_empty());
    assert!(!preview.applied);
    let actions: Vec<ImportAction> = preview.contacts.iter().map(|c| c.action).collect();
    use ImportAction::*;
    assert_eq!(actions, [Join, Create, Join, Skip, Skip]);
    assert_eq!(preview.contacts[0].customer.as_ref().unwrap().id, t.yamada);
    assert_eq!(preview.contacts[2].customer.as_ref().unwrap().id, t.lead);
    assert!(preview.contacts[2].sets_name);
    assert_eq!(preview.contacts[3].skip_reason, Some(SkipReason::NoNumber));
    assert_eq!(
        preview.contacts[4].skip_reason,
        Some(SkipReason::DuplicateInFile)
    );
    // Nothing changed.
    assert_eq!(customer_count(s, t.channel).await, 2);
    assert_eq!(
        s.customer(t.channel, t.yamada).await.unwrap().phones.len(),
        1
    );

    let (applied, events) = s
        .import_contacts(
            t.channel,
            &file,
            ImportMode::Apply {
                expect: Some(preview.digest.clone()),
            },
            Some(t.staff),
        )
        .await
        .unwrap();
    assert!(applied.applied);
    assert_eq!(applied.digest, preview.digest);
    assert_eq!(applied.counts, preview.counts);
    // The same plan; only the new lead's id is filled in.
    for (a, p) in applied.contacts.iter().zip(&preview.contacts) {
        if p.action == Create {
            assert!(a.customer.is_some());
            let mut a = a.clone();
            a.customer = None;
            assert_eq!(&a, p);
        } else {
            assert_eq!(a, p);
        }
    }

    // Yamada joined: the known number stays, the new one is added, the name is kept.
    let yamada = s.customer(t.channel, t.yamada).await.unwrap();
    assert_eq!(yamada.name, "山田 太郎");
    let numbers: Vec<&str> = yamada.phones.iter().map(|p| p.number.as_str()).collect();
    assert_eq!(numbers, ["+819011112222", "+818099990000"]);
    // The nameless lead got the contact's name (its folded line joined).
    let lead = s.customer(t.channel, t.lead).await.unwrap();
    assert_eq!(lead.name, "折り返し の人");
    // The new number became a lead of this channel (channel B's customer is not ours).
    let created_id = applied.contacts[1].customer.as_ref().unwrap().id;
    let created = s.customer(t.channel, created_id).await.unwrap();
    assert_eq!(created.name, "新規 顧客");
    assert_eq!(created.kind, CustomerKind::Lead);
    assert_eq!(created.phones[0].number, "+81665432100");
    assert_eq!(customer_count(s, t.channel).await, 3);
    assert_eq!(customer_count(s, t.other).await, 1);

    // The usual customer events, by the importing staff member.
    let kinds: Vec<(EventKind, i64)> = events
        .iter()
        .map(|e| (e.kind, e.data["customer"]["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::CustomerUpdated, t.yamada),
            (EventKind::CustomerCreated, created_id),
            (EventKind::CustomerUpdated, t.lead),
        ]
    );
    assert!(events.iter().all(|e| e.actor_staff_id == Some(t.staff)));
    assert!(events.iter().all(|e| e.channel_id == Some(t.channel)));

    // Importing the same file again changes nothing: every contact joins.
    let (again, events) = s
        .import_contacts(
            t.channel,
            &file,
            ImportMode::Apply { expect: None },
            Some(t.staff),
        )
        .await
        .unwrap();
    assert!(events.is_empty());
    assert_eq!(
        (again.counts.join, again.counts.create, again.counts.updated),
        (3, 0, 0)
    );
    assert_eq!(customer_count(s, t.channel).await, 3);
}

#[tokio::test]
async fn an_out_of_date_preview_is_refused_and_changes_nothing() {
    let t = setup().await;
    let s = &t.store;
    let file = read_contact_file(FILE.as_bytes(), None).unwrap();
    let (preview, _) = s
        .import_contacts(t.channel, &file, ImportMode::Preview, Some(t.staff))
        .await
        .unwrap();
    // Meanwhile a call from the "new" number made it a lead.
    s.create_customer(
        t.channel,
        CustomerInput {
            phones: Some(vec![PhoneInput {
                number: "06-6543-2100".into(),
                mobile: None,
            }]),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let err = s
        .import_contacts(
            t.channel,
            &file,
            ImportMode::Apply {
                expect: Some(preview.digest.clone()),
            },
            Some(t.staff),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale(_)), "{err}");
    assert_eq!(customer_count(s, t.channel).await, 3);
    assert_eq!(
        s.customer(t.channel, t.yamada).await.unwrap().phones.len(),
        1,
        "nothing of the plan was done"
    );
    assert_eq!(s.customer(t.channel, t.lead).await.unwrap().name, "");
    // A fresh preview now joins that lead instead of creating one.
    let (fresh, _) = s
        .import_contacts(t.channel, &file, ImportMode::Preview, Some(t.staff))
        .await
        .unwrap();
    assert_eq!(fresh.contacts[1].action, ImportAction::Join);
    assert_ne!(fresh.digest, preview.digest);
}

#[tokio::test]
async fn another_channel_is_not_found() {
    let t = setup().await;
    let file = read_contact_file(FILE.as_bytes(), None).unwrap();
    let err = t
        .store
        .import_contacts(9999, &file, ImportMode::Preview, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn a_file_of_the_largest_size_is_applied_in_one_go() {
    let t = setup().await;
    let s = &t.store;
    let mut csv = String::from("name,phone,mobile\n山田,090-1111-2222,080-1111-0000\n");
    for i in 1..denwa_core::contacts::MAX_CONTACTS {
        csv.push_str(&format!("顧客 {i},03-1000-{i:04},090-2000-{i:04}\n"));
    }
    let file = read_contact_file(csv.as_bytes(), Some("text/csv")).unwrap();
    let started = std::time::Instant::now();
    let (preview, _) = s
        .import_contacts(t.channel, &file, ImportMode::Preview, Some(t.staff))
        .await
        .unwrap();
    let planned = started.elapsed();
    let (applied, events) = s
        .import_contacts(
            t.channel,
            &file,
            ImportMode::Apply {
                expect: Some(preview.digest.clone()),
            },
            Some(t.staff),
        )
        .await
        .unwrap();
    eprintln!(
        "5000 contacts: preview {planned:?}, preview + apply {:?}",
        started.elapsed()
    );
    let n = denwa_core::contacts::MAX_CONTACTS as u32;
    assert_eq!(
        (
            applied.counts.join,
            applied.counts.updated,
            applied.counts.create
        ),
        (1, 1, n - 1)
    );
    assert_eq!(events.len(), n as usize);
    assert_eq!(
        s.customer(t.channel, t.yamada).await.unwrap().phones.len(),
        2
    );
    let found = s
        .search_customers(t.channel, "03-1000-4999", 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "顧客 4999");
    assert_eq!(found[0].phones.len(), 2);
}
