//! SPEC OUT-6: reading contact files (vCard, CSV) and planning their import.

use denwa_core::Region;
use denwa_core::contacts::{
    ColumnRole, ContactFileError, ContactFormat, ImportAction, KnownCustomer, KnownNumbers,
    MAX_CONTACTS, MAX_PHONES, NumberIssue, SkipReason, plan_import, read_contact_file,
};

fn vcard(text: &str) -> denwa_core::contacts::ContactFile {
    read_contact_file(text.as_bytes(), Some("text/vcard")).unwrap()
}

fn csv(text: &str) -> denwa_core::contacts::ContactFile {
    read_contact_file(text.as_bytes(), Some("text/csv")).unwrap()
}

fn values(card: &denwa_core::contacts::ContactCard) -> Vec<&str> {
    card.numbers.iter().map(|n| n.value.as_str()).collect()
}

#[test]
fn vcard_3_and_4_names_and_several_numbers() {
    let f = vcard(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:山田;太郎;;;\r\nFN:山田 太郎\r\n\
         TEL;TYPE=CELL:090-1111-2222\r\nTEL;TYPE=WORK,VOICE:03-1234-5678\r\nEND:VCARD\r\n\
         BEGIN:VCARD\nVERSION:4.0\nFN:Emily Clark\nTEL;VALUE=uri;TYPE=\"voice,cell\":tel:+1-415-555-2671;ext=12\nEND:VCARD\n",
    );
    assert_eq!(f.format, ContactFormat::Vcard);
    assert_eq!(f.cards.len(), 2);
    assert_eq!(f.cards[0].index, 1);
    assert_eq!(f.cards[0].name, "山田 太郎");
    assert_eq!(values(&f.cards[0]), ["090-1111-2222", "03-1234-5678"]);
    assert_eq!(f.cards[0].numbers[0].mobile, Some(true));
    assert_eq!(f.cards[0].numbers[1].mobile, None);
    assert_eq!(f.cards[1].name, "Emily Clark");
    assert_eq!(values(&f.cards[1]), ["+1-415-555-2671"]);
    assert_eq!(f.cards[1].numbers[0].mobile, Some(true));
}

#[test]
fn folded_lines_are_joined() {
    // RFC 6350 §3.2: CRLF followed by one space or tab continues the line, even inside a
    // multi-byte name split between its characters.
    let f = vcard(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:高橋\r\n  花子\r\nTEL;TYPE=HOME:03-12\r\n\t34-5678\r\nEND:VCARD\r\n",
    );
    assert_eq!(f.cards[0].name, "高橋 花子");
    assert_eq!(values(&f.cards[0]), ["03-1234-5678"]);
}

#[test]
fn name_falls_back_to_n_then_org_and_escapes_are_undone() {
    let f = vcard(
        "BEGIN:VCARD\nN:Clark;Emily;;Dr.;\nTEL:+14155552671\nEND:VCARD\n\
         BEGIN:VCARD\nORG:Acme\\, Inc.;Sales\nTEL:+14155552672\nEND:VCARD\n\
         BEGIN:VCARD\nFN:Sato\\, Ken\\nsupport\nTEL:+14155552673\nEND:VCARD\n\
         BEGIN:VCARD\nitem1.TEL;type=pref:0120-123-456\nEND:VCARD\n",
    );
    let names: Vec<&str> = f.cards.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["Emily Clark", "Acme, Inc.", "Sato, Ken support", ""]
    );
    assert_eq!(values(&f.cards[3]), ["0120-123-456"]);
}

#[test]
fn vcard_2_1_quoted_printable_is_decoded() {
    // An Android/feature-phone export: bare types and a UTF-8 name in quoted-printable
    // with a soft line break.
    let f = vcard(
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=E9=88=B4=E6=9C=A8;=E4=B8=80=\r\n=E9=83=8E;;;\r\n\
         TEL;CELL;PREF:08012345678\r\nEND:VCARD\r\n",
    );
    assert_eq!(f.cards[0].name, "鈴木 一郎");
    assert_eq!(f.cards[0].numbers[0].mobile, Some(true));
    // Broken quoted-printable does not crash: it is kept as written.
    let f = vcard("BEGIN:VCARD\nFN;ENCODING=QUOTED-PRINTABLE:=ZZ=4\nTEL:0312345678\nEND:VCARD\n");
    assert_eq!(f.cards[0].name, "=ZZ=4");
}

#[test]
fn nested_agent_cards_are_not_contacts() {
    let f = vcard(
        "BEGIN:VCARD\nFN:Boss\nTEL:0312345678\nAGENT:\nBEGIN:VCARD\nFN:Assistant\nTEL:0312345679\nEND:VCARD\nEND:VCARD\n",
    );
    assert_eq!(f.cards.len(), 1);
    assert_eq!(f.cards[0].name, "Boss");
    assert_eq!(values(&f.cards[0]), ["0312345678"]);
}

#[test]
fn broken_vcards_are_refused_with_the_reason() {
    let cut = read_contact_file(
        b"BEGIN:VCARD\nFN:A\nTEL:1\nEND:VCARD\nBEGIN:VCARD\nFN:B\n",
        None,
    );
    assert_eq!(cut, Err(ContactFileError::UnterminatedCard { index: 2 }));
    assert!(cut.unwrap_err().to_string().contains("card 2"));
    assert_eq!(
        read_contact_file(b"name,phone\nA,0312345678\n", Some("text/vcard")),
        Err(ContactFileError::NotVcard)
    );
    assert_eq!(
        read_contact_file(b"", Some("text/vcard")),
        Err(ContactFileError::NotVcard)
    );
    assert_eq!(
        read_contact_file(b"BEGIN:VCARDS are great\n", None),
        Err(ContactFileError::NoContacts)
    );
    assert_eq!(
        read_contact_file(b"\x00\x01\x02\xff\xfe\x00", None),
        Err(ContactFileError::NotText)
    );
}

#[test]
fn content_decides_when_the_type_says_nothing() {
    let v = b"BEGIN:VCARD\nFN:A\nTEL:0312345678\nEND:VCARD\n";
    for ty in [
        None,
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("text/csv"),
    ] {
        assert_eq!(
            read_contact_file(v, ty).unwrap().format,
            ContactFormat::Vcard,
            "{ty:?}"
        );
    }
    let c = b"name,phone\nA,0312345678\n";
    for ty in [
        None,
        Some("application/vnd.ms-excel"),
        Some("text/csv; charset=utf-8"),
    ] {
        assert_eq!(
            read_contact_file(c, ty).unwrap().format,
            ContactFormat::Csv,
            "{ty:?}"
        );
    }
}

#[test]
fn csv_headers_in_english_and_japanese() {
    let f = csv(
        "名前,電話番号,メモ\n山田 太郎,090-1111-2222,VIP\n\"高橋, 花子\",\"03-1234-5678, 0120-123-456\",\n",
    );
    assert_eq!(f.format, ContactFormat::Csv);
    let roles: Vec<(&str, u32, ColumnRole)> = f
        .columns
        .iter()
        .map(|c| (c.header.as_str(), c.column, c.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("名前", 1, ColumnRole::Name),
            ("電話番号", 2, ColumnRole::Phone)
        ]
    );
    assert_eq!(f.ignored_columns, ["メモ"]);
    assert_eq!(f.cards[0].index, 2, "the line, the header being line 1");
    assert_eq!(f.cards[1].name, "高橋, 花子");
    assert_eq!(values(&f.cards[1]), ["03-1234-5678", "0120-123-456"]);

    let f = csv("Name,Phone,Mobile\nKen,03-1111-2222,090-3333-4444\n");
    assert_eq!(values(&f.cards[0]), ["03-1111-2222", "090-3333-4444"]);
    assert_eq!(f.cards[0].numbers[0].mobile, None);
    assert_eq!(f.cards[0].numbers[1].mobile, Some(true));
}

#[test]
fn csv_exports_of_google_and_outlook() {
    // Google Contacts: given/family names, "Phone N - Value" with its "- Label" column.
    let f = csv(
        "First Name,Middle Name,Last Name,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value\n\
         Emily,,Clark,Mobile,+1 415-555-2671 ::: +1 415-555-2672,Work,+1 415-555-2673\n\
         太郎,,山田,,090-1111-2222,,\n",
    );
    assert_eq!(f.cards[0].name, "Emily Clark");
    assert_eq!(
        values(&f.cards[0]),
        ["+1 415-555-2671", "+1 415-555-2672", "+1 415-555-2673"]
    );
    let mobiles: Vec<Option<bool>> = f.cards[0].numbers.iter().map(|n| n.mobile).collect();
    assert_eq!(mobiles, [Some(true), Some(true), None]);
    assert_eq!(
        f.cards[1].name, "山田 太郎",
        "family name first in Japanese"
    );
    assert!(f.ignored_columns.is_empty(), "{:?}", f.ignored_columns);
    // Outlook: tab-separated here, faxes are not phone columns, the company is the
    // name when there is no person's name.
    let f = csv("Company\tBusiness Phone\tBusiness Fax\nAcme\t03-5555-0000\t03-5555-0001\n");
    assert_eq!(f.cards[0].name, "Acme");
    assert_eq!(values(&f.cards[0]), ["03-5555-0000"]);
    assert_eq!(f.ignored_columns, ["Business Fax"]);
}

#[test]
fn csv_without_a_phone_column_names_its_headers() {
    let err =
        read_contact_file("名前,会員番号\n山田,123\n".as_bytes(), Some("text/csv")).unwrap_err();
    assert!(matches!(err, ContactFileError::NoPhoneColumn { .. }));
    let msg = err.to_string();
    assert!(msg.contains("名前, 会員番号"), "{msg}");
    assert!(msg.contains("電話番号"), "{msg}");
    // A header and no rows: nothing to import.
    assert_eq!(
        read_contact_file(b"name,phone\n\n,\n", None),
        Err(ContactFileError::NoContacts)
    );
}

#[test]
fn shift_jis_and_utf16_files_are_read() {
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("名前,電話番号\n山田 太郎,090-1111-2222\n");
    let f = read_contact_file(&sjis, None).unwrap();
    assert_eq!(f.encoding, "shift_jis");
    assert_eq!(f.cards[0].name, "山田 太郎");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "BEGIN:VCARD\r\nFN:鈴木\r\nTEL:0312345678\r\nEND:VCARD\r\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let f = read_contact_file(&utf16, None).unwrap();
    assert_eq!((f.encoding, f.cards[0].name.as_str()), ("utf-16", "鈴木"));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice("名前,電話\nA,0312345678\n".as_bytes());
    assert_eq!(
        read_contact_file(&bom, None).unwrap().columns[0].header,
        "名前"
    );
}

#[test]
fn too_many_contacts_are_refused() {
    let mut text = String::from("name,phone\n");
    for i in 0..=MAX_CONTACTS {
        text.push_str(&format!("c{i},03{i:08}\n"));
    }
    assert_eq!(
        read_contact_file(text.as_bytes(), None),
        Err(ContactFileError::TooManyContacts)
    );
}

#[test]
fn long_names_are_cut_and_whitespace_collapsed() {
    let long = "あ".repeat(300);
    let f = csv(&format!("name,phone\n\"  {long}\r\n \",0312345678\n"));
    assert_eq!(f.cards[0].name.chars().count(), 200);
    let f = csv("name,phone\n\"山田　 太郎\t\",0312345678\n");
    assert_eq!(f.cards[0].name, "山田 太郎");
}

// ---- planning

fn known(customers: &[(i64, &str, &[&str])]) -> KnownNumbers {
    let mut k = KnownNumbers::default();
    for (id, name, numbers) in customers {
        for n in *numbers {
            k.owners.insert((*n).to_owned(), *id);
        }
        k.customers.insert(
            *id,
            KnownCustomer {
                id: *id,
                name: (*name).to_owned(),
                blocked: false,
                phones: numbers.len(),
            },
        );
    }
    k
}

#[test]
fn known_numbers_join_new_numbers_create_and_bad_ones_skip() {
    let f = vcard(concat!(
        "BEGIN:VCARD\nFN:山田さん\nTEL:090-1111-2222\nTEL:080-9999-0000\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:新しい人\nTEL:06-6543-2100\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:番号なし\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:読めない\nTEL:12\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:重複\nTEL:+81 6-6543-2100\nEND:VCARD\n",
        "BEGIN:VCARD\nFN:名なしリード\nTEL:03-5555-1234\nEND:VCARD\n",
    ));
    let k = known(&[
        (7, "山田 太郎", &["+819011112222"]),
        (9, "", &["+81355551234"]),
    ]);
    let plan = plan_import(&f, Region::JP, &k);
    let actions: Vec<ImportAction> = plan.contacts.iter().map(|c| c.action).collect();
    use ImportAction::*;
    assert_eq!(actions, [Join, Create, Skip, Skip, Skip, Join]);

    let yamada = &plan.contacts[0];
    assert_eq!(yamada.customer.as_ref().unwrap().id, 7);
    assert!(!yamada.sets_name, "the customer has a name: it is kept");
    let nums: Vec<(&str, bool)> = yamada
        .numbers
        .iter()
        .map(|n| (n.number.as_str(), n.known))
        .collect();
    assert_eq!(nums, [("+819011112222", true), ("+818099990000", false)]);
    assert!(yamada.changes_customer());

    assert_eq!(plan.contacts[1].numbers[0].number, "+81665432100");
    assert_eq!(plan.contacts[1].numbers[0].display, "06-6543-2100");
    assert_eq!(plan.contacts[2].skip_reason, Some(SkipReason::NoNumber));
    assert_eq!(
        plan.contacts[3].skip_reason,
        Some(SkipReason::InvalidNumber)
    );
    assert_eq!(plan.contacts[3].problems[0].issue, NumberIssue::Invalid);
    assert_eq!(plan.contacts[3].problems[0].input, "12");
    assert_eq!(
        plan.contacts[4].skip_reason,
        Some(SkipReason::DuplicateInFile)
    );
    assert_eq!(
        plan.contacts[4].problems[0].detail,
        "contact 2 of the file has it"
    );
    // A lead known only by number gets the contact's name.
    assert!(plan.contacts[5].sets_name);
    assert!(!plan.contacts[5].numbers.iter().any(|n| !n.known));

    let c = plan.counts;
    assert_eq!(
        (c.contacts, c.join, c.updated, c.create, c.skip),
        (6, 2, 2, 1, 3)
    );
    assert!(!plan.applied);
}

#[test]
fn a_known_number_alone_changes_nothing() {
    let f = csv("name,phone\n山田 太郎,090-1111-2222\n");
    let plan = plan_import(
        &f,
        Region::JP,
        &known(&[(7, "山田 太郎", &["+819011112222"])]),
    );
    assert_eq!(plan.contacts[0].action, ImportAction::Join);
    assert!(!plan.contacts[0].changes_customer());
    assert_eq!(plan.counts.updated, 0);
}

#[test]
fn numbers_of_two_customers_join_the_first_and_leave_the_other() {
    let f = csv("name,phone\nX,\"03-1111-1111,03-2222-2222,03-3333-3333\"\n");
    let k = known(&[(1, "A", &["+81311111111"]), (2, "B", &["+81322222222"])]);
    let plan = plan_import(&f, Region::JP, &k);
    let c = &plan.contacts[0];
    assert_eq!(c.customer.as_ref().unwrap().id, 1);
    assert_eq!(c.numbers.len(), 2, "its own known number and the new one");
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.problems[0].issue, NumberIssue::OtherCustomer);
    assert_eq!(c.problems[0].detail, "it belongs to customer 2 B");
}

#[test]
fn a_customer_never_gets_more_than_the_phone_limit() {
    let numbers: Vec<String> = (0..MAX_PHONES + 3)
        .map(|i| format!("03-1111-{i:04}"))
        .collect();
    let f = csv(&format!("name,phone\nMany,\"{}\"\n", numbers.join(",")));
    let plan = plan_import(&f, Region::JP, &KnownNumbers::default());
    assert_eq!(plan.contacts[0].action, ImportAction::Create);
    assert_eq!(plan.contacts[0].numbers.len(), MAX_PHONES);
    assert_eq!(plan.contacts[0].problems.len(), 3);
    assert!(
        plan.contacts[0]
            .problems
            .iter()
            .all(|p| p.issue == NumberIssue::TooMany)
    );
}

#[test]
fn the_same_number_twice_in_one_contact_is_one_number() {
    let f = vcard("BEGIN:VCARD\nFN:A\nTEL:03-1234-5678\nTEL;TYPE=CELL:+81312345678\nEND:VCARD\n");
    let plan = plan_import(&f, Region::JP, &KnownNumbers::default());
    assert_eq!(plan.contacts[0].numbers.len(), 1);
    assert!(plan.contacts[0].problems.is_empty());
    assert_eq!(plan.contacts[0].numbers[0].mobile, Some(true));
}

#[test]
fn a_name_is_filled_once_when_two_contacts_join_the_same_lead() {
    let f = csv("name,phone\nFirst,03-5555-1234\nSecond,03-5555-9999\n");
    let mut k = known(&[(9, "", &["+81355551234", "+81355559999"])]);
    k.customers.get_mut(&9).unwrap().phones = 2;
    let plan = plan_import(&f, Region::JP, &k);
    assert!(plan.contacts[0].sets_name);
    assert!(!plan.contacts[1].sets_name);
    assert_eq!(plan.counts.updated, 1);
}

#[test]
fn the_digest_follows_what_the_plan_does() {
    let f = csv("name,phone\nA,03-1111-1111\nB,03-2222-2222\n");
    let none = plan_import(&f, Region::JP, &KnownNumbers::default());
    assert_eq!(
        none.digest(),
        plan_import(&f, Region::JP, &KnownNumbers::default()).digest()
    );
    let one = plan_import(&f, Region::JP, &known(&[(4, "A", &["+81311111111"])]));
    assert_ne!(none.digest(), one.digest());
    assert_eq!(none.digest().len(), 32);
}

#[test]
fn another_region_reads_national_numbers_its_own_way() {
    let f = csv("name,phone\nA,(415) 555-2671\n");
    let jp = plan_import(&f, Region::JP, &KnownNumbers::default());
    assert_eq!(jp.contacts[0].skip_reason, Some(SkipReason::InvalidNumber));
    let us: Region = "US".parse().unwrap();
    let plan = plan_import(&f, us, &KnownNumbers::default());
    assert_eq!(plan.contacts[0].numbers[0].number, "+14155552671");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        for ty in [None, Some("text/vcard"), Some("text/csv")] {
            if let Ok(f) = read_contact_file(&bytes, ty) {
                let _ = plan_import(&f, Region::JP, &KnownNumbers::default());
            }
        }
    }

    #[test]
    fn vcard_like_text_never_panics(text in "(BEGIN:VCARD\r?\n|END:VCARD\n|FN[;A-Z=\"-]{0,12}:[^\n]{0,20}\n|TEL[;A-Z=,\"]{0,12}:[0-9+ ()=-]{0,16}\n| [^\n]{0,10}\n|N:[^\n]{0,12}\n|=[0-9A-F]{0,3}\n){0,30}") {
        if let Ok(f) = read_contact_file(text.as_bytes(), None) {
            let _ = plan_import(&f, Region::JP, &KnownNumbers::default());
        }
    }

    /// Any cards written as vCard, folded at any points, read back as written.
    #[test]
    fn written_cards_read_back(
        cards in proptest::collection::vec(("[A-Za-z山田太郎花子 ]{0,20}", proptest::collection::vec("0[1-9]0-[0-9]{4}-[0-9]{4}", 0..4)), 1..6),
        fold_at in 1usize..40,
    ) {
        let mut text = String::new();
        for (name, numbers) in &cards {
            let mut lines = vec!["BEGIN:VCARD".to_owned(), "VERSION:3.0".to_owned(), format!("FN:{name}")];
            lines.extend(numbers.iter().map(|n| format!("TEL;TYPE=CELL:{n}")));
            lines.push("END:VCARD".to_owned());
            for l in lines {
                // Fold every line after `fold_at` characters (RFC 6350 folds at octets;
                // a reader must accept a fold anywhere).
                let chars: Vec<char> = l.chars().collect();
                for (i, chunk) in chars.chunks(fold_at).enumerate() {
                    if i > 0 { text.push_str("\r\n "); }
                    text.extend(chunk);
                }
                text.push_str("\r\n");
            }
        }
        let f = read_contact_file(text.as_bytes(), None).unwrap();
        proptest::prop_assert_eq!(f.cards.len(), cards.len());
        for (card, (name, numbers)) in f.cards.iter().zip(&cards) {
            proptest::prop_assert_eq!(&card.name, &name.split_whitespace().collect::<Vec<_>>().join(" "));
            let got: Vec<&str> = card.numbers.iter().map(|n| n.value.as_str()).collect();
            proptest::prop_assert_eq!(got, numbers.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

#[test]
fn plan_contacts_keep_file_order_and_indexes() {
    let f = csv("phone,name\n0312345678,A\n\n0312345679,B\n");
    let plan = plan_import(&f, Region::JP, &KnownNumbers::default());
    let idx: Vec<u32> = plan.contacts.iter().map(|c| c.index).collect();
    assert_eq!(
        idx,
        [2, 4],
        "blank lines are not contacts but keep their line numbers"
    );
}
