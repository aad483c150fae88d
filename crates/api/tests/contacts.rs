//! SPEC OUT-6 over HTTP: a staff member uploads their own contacts (vCard or CSV), sees
//! per contact whether it joins a known customer, becomes a lead or is skipped and why,
//! then applies exactly that; bad files get a 400 that says why, large ones 413, other
//! channels' staff 403.

mod common;

use common::{Server, start};
use serde_json::{Value, json};

fn path(cid: i64, query: &str) -> String {
    format!("/api/v1/channels/{cid}/contacts/import{query}")
}

async fn upload(
    s: &Server,
    cid: i64,
    query: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    s.raw(
        "POST",
        &path(cid, query),
        &[
            ("authorization".into(), format!("Bearer {token}")),
            ("content-type".into(), content_type.into()),
        ],
        Some(body),
    )
    .await
}

/// The tenant's customer owns 03-1234-5678.
const VCARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:顧客;既存;;;\r\nFN:既存の顧客\r\nTEL;TYPE=WORK:+81 3-1234-5678\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:佐々木 \r\n 美咲\r\nTEL;TYPE=cell;VALUE=uri:tel:+81-90-5555-6666\r\nTEL;TYPE=home:06-6543-\r\n 2100\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:番号が読めない\r\nTEL:123\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:番号なし\r\nEMAIL:x@example.com\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:同じ番号\r\nTEL:09055556666\r\nEND:VCARD\r\n";

fn actions(plan: &Value) -> Vec<&str> {
    plan["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect()
}

async fn customers(s: &Server, cid: i64, token: &str) -> Vec<Value> {
    let (st, list) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{cid}/customers?limit=200"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_vcard_is_previewed_then_applied_exactly() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = &t.operator_token;
    let before = customers(&s, t.channel, tok).await;

    let (st, preview) = upload(
        &s,
        t.channel,
        "?preview=true",
        tok,
        "text/vcard",
        VCARD.as_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{preview}");
    assert_eq!(preview["format"], "vcard");
    assert_eq!(preview["applied"], false);
    assert_eq!(
        actions(&preview),
        ["join", "create", "skip", "skip", "skip"]
    );
    let c = &preview["contacts"];
    // Known: the tenant's customer, number as E.164, nothing new for them.
    assert_eq!(c[0]["customer"]["id"], t.customer);
    assert_eq!(c[0]["customer"]["name"], "Customer a");
    assert_eq!(c[0]["numbers"][0]["number"], "+81312345678");
    assert_eq!(c[0]["numbers"][0]["known"], true);
    assert_eq!(c[0]["sets_name"], false);
    // New: a Japanese name whose folded line is joined, two numbers (one folded).
    assert_eq!(c[1]["name"], "佐々木 美咲");
    let numbers: Vec<&str> = c[1]["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+819055556666", "+81665432100"]);
    assert_eq!(c[1]["numbers"][0]["mobile"], true);
    assert_eq!(c[1]["numbers"][1]["display"], "06-6543-2100");
    // Skips with their reasons.
    assert_eq!(c[2]["skip_reason"], "invalid_number");
    assert_eq!(c[2]["problems"][0]["input"], "123");
    assert_eq!(c[2]["problems"][0]["issue"], "invalid");
    assert_eq!(c[3]["skip_reason"], "no_number");
    assert_eq!(c[4]["skip_reason"], "duplicate_in_file");
    assert_eq!(
        c[4]["problems"][0]["detail"],
        "contact 2 of the file has it"
    );
    assert_eq!(
        preview["counts"],
        json!({"contacts": 5, "join": 1, "updated": 0, "create": 1, "skip": 3})
    );
    // A preview changes nothing.
    assert_eq!(customers(&s, t.channel, tok).await.len(), before.len());

    let digest = preview["digest"].as_str().unwrap();
    let (st, applied) = upload(
        &s,
        t.channel,
        &format!("?expect={digest}"),
        tok,
        "text/vcard",
        VCARD.as_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{applied}");
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["counts"], preview["counts"]);
    assert_eq!(applied["digest"], preview["digest"]);
    let new_id = applied["contacts"][1]["customer"]["id"].as_i64().unwrap();
    let after = customers(&s, t.channel, tok).await;
    assert_eq!(after.len(), before.len() + 1);
    let created = after.iter().find(|c| c["id"] == new_id).unwrap();
    assert_eq!(created["name"], "佐々木 美咲");
    assert_eq!(created["kind"], "lead");
    assert_eq!(created["phones"][0]["number"], "+819055556666");
    assert_eq!(created["phones"][0]["mobile"], true);
    assert_eq!(created["phones"][1]["number"], "+81665432100");
    // The known customer is untouched.
    let known = after.iter().find(|c| c["id"] == t.customer).unwrap();
    assert_eq!(known["name"], "Customer a");
    assert_eq!(known["phones"].as_array().unwrap().len(), 1);

    // A second import of the same file finds everyone: nothing is created.
    let (st, again) = upload(&s, t.channel, "", tok, "text/x-vcard", VCARD.as_bytes()).await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(actions(&again), ["join", "join", "skip", "skip", "skip"]);
    assert_eq!(customers(&s, t.channel, tok).await.len(), after.len());
}

#[tokio::test]
async fn a_csv_says_which_columns_it_used() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let csv = "名前,電話番号,携帯,メモ\n\
               山田 花子,03-1234-5678,080-1234-0000,常連\n\
               \"田中, 一郎\",,090-7777-8888,\n";
    let (st, plan) = upload(
        &s,
        t.channel,
        "?preview=true",
        &t.owner_token,
        "text/csv; charset=utf-8",
        csv.as_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{plan}");
    assert_eq!(plan["format"], "csv");
    assert_eq!(
        plan["columns"],
        json!([
            {"header": "名前", "column": 1, "role": "name"},
            {"header": "電話番号", "column": 2, "role": "phone"},
            {"header": "携帯", "column": 3, "role": "phone"},
        ])
    );
    assert_eq!(plan["ignored_columns"], json!(["メモ"]));
    assert_eq!(actions(&plan), ["join", "create"]);
    // The known customer gets the contact's other number; the name stays theirs.
    let c = &plan["contacts"][0];
    assert_eq!(c["index"], 2);
    assert_eq!(c["numbers"][1]["number"], "+818012340000");
    assert_eq!(c["numbers"][1]["known"], false);
    assert_eq!(plan["counts"]["updated"], 1);
    assert_eq!(plan["contacts"][1]["name"], "田中, 一郎");

    let (st, applied) = upload(
        &s,
        t.channel,
        "",
        &t.owner_token,
        "text/csv",
        csv.as_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{applied}");
    let (_, cu) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{}/customers/{}", t.channel, t.customer),
            Some(&t.owner_token),
            None,
        )
        .await;
    let numbers: Vec<&str> = cu["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+81312345678", "+818012340000"]);
    assert_eq!(cu["name"], "Customer a");
}

#[tokio::test]
async fn bad_files_are_refused_with_the_reason() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = &t.owner_token;
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        (
            "text/csv",
            "名前,会員番号\n山田,1\n".as_bytes().to_vec(),
            400,
            "invalid_contacts_file",
            "no phone number column",
        ),
        (
            "text/vcard",
            b"BEGIN:VCARD\nFN:A\nTEL:0312345678\n".to_vec(),
            400,
            "invalid_contacts_file",
            "card 1 has no END:VCARD",
        ),
        (
            "text/vcard",
            b"name,phone\nA,0312345678\n".to_vec(),
            400,
            "invalid_contacts_file",
            "BEGIN:VCARD",
        ),
        (
            "application/octet-stream",
            vec![0x89, b'P', b'N', b'G', 0, 0, 0xff, 0xfe, 0],
            400,
            "invalid_contacts_file",
            "not text",
        ),
        (
            "text/csv",
            b"  \n".to_vec(),
            400,
            "invalid_contacts_file",
            "empty",
        ),
        (
            "text/csv",
            b"name,phone\n".to_vec(),
            400,
            "invalid_contacts_file",
            "no contacts",
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\n".to_vec(),
            415,
            "unsupported_media_type",
            "the file itself",
        ),
        (
            "application/json",
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
            "text/vcard or text/csv",
        ),
    ];
    for (ty, body, status, code, says) in cases {
        for query in ["?preview=true", ""] {
            let (st, err) = upload(&s, t.channel, query, tok, ty, &body).await;
            assert_eq!(st, status, "{ty} {query}: {err}");
            assert_eq!(err["code"], code, "{ty}: {err}");
            assert!(
                err["message"].as_str().unwrap().contains(says),
                "{ty}: {err}"
            );
        }
    }
    // Too many contacts.
    let mut many = String::from("name,phone\n");
    for i in 0..5001 {
        many.push_str(&format!("c{i},03{i:08}\n"));
    }
    let (st, err) = upload(
        &s,
        t.channel,
        "?preview=true",
        tok,
        "text/csv",
        many.as_bytes(),
    )
    .await;
    assert_eq!(
        (st, err["code"].as_str()),
        (400, Some("too_many_contacts")),
        "{err}"
    );
    // preview with expect, and unknown parameters, are mistakes.
    let ok = b"name,phone\nA,0312345678\n";
    let (st, err) = upload(&s, t.channel, "?preview=true&expect=x", tok, "text/csv", ok).await;
    assert_eq!(st, 400, "{err}");
    let (st, err) = upload(&s, t.channel, "?dry_run=1", tok, "text/csv", ok).await;
    assert_eq!(st, 400, "{err}");
    // Nothing was created by any of it.
    assert_eq!(customers(&s, t.channel, tok).await.len(), 1);
}

#[tokio::test]
async fn a_file_over_2_mb_is_413() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let mut big = b"name,phone\n".to_vec();
    big.resize(2 * 1024 * 1024 + 1, b' ');
    let (st, err) = upload(
        &s,
        t.channel,
        "?preview=true",
        &t.owner_token,
        "text/csv",
        &big,
    )
    .await;
    assert_eq!(st, 413, "{err}");
    assert_eq!(err["code"], "import_too_large");
    assert!(err["message"].as_str().unwrap().contains("2 MB"), "{err}");
    // Exactly 2 MB is read (and here refused only for having no contacts).
    big.truncate(2 * 1024 * 1024);
    let (st, err) = upload(
        &s,
        t.channel,
        "?preview=true",
        &t.owner_token,
        "text/csv",
        &big,
    )
    .await;
    assert_eq!(
        (st, err["code"].as_str()),
        (400, Some("invalid_contacts_file")),
        "{err}"
    );
}

#[tokio::test]
async fn staff_of_another_channel_cannot_import() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let file = b"name,phone\nIntruder,090-0000-1111\n";
    for query in ["?preview=true", ""] {
        let (st, err) = upload(&s, a.channel, query, &b.owner_token, "text/csv", file).await;
        assert_eq!(st, 403, "{err}");
        assert_eq!(err["code"], "forbidden");
    }
    let (st, _) = s
        .raw(
            "POST",
            &path(a.channel, "?preview=true"),
            &[("content-type".into(), "text/csv".into())],
            Some(file),
        )
        .await;
    assert_eq!(st, 401);
    // Channel B's customer (03-1234-5678, as in A) is not A's: an A import joins A's own.
    let (st, plan) = upload(
        &s,
        a.channel,
        "?preview=true",
        &a.operator_token,
        "text/csv",
        b"name,phone\nX,03-1234-5678\n",
    )
    .await;
    assert_eq!(st, 200, "{plan}");
    assert_eq!(plan["contacts"][0]["customer"]["id"], a.customer);
    assert_eq!(customers(&s, a.channel, &a.owner_token).await.len(), 1);
}

#[tokio::test]
async fn an_outdated_preview_is_not_applied() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let file = b"name,phone\nNew person,06-6543-2100\n";
    let (_, preview) = upload(
        &s,
        t.channel,
        "?preview=true",
        &t.owner_token,
        "text/csv",
        file,
    )
    .await;
    assert_eq!(actions(&preview), ["create"]);
    // Meanwhile a colleague adds that number.
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/channels/{}/customers", t.channel),
            Some(&t.operator_token),
            Some(json!({"name": "Added meanwhile", "phones": [{"number": "06-6543-2100"}]})),
        )
        .await;
    assert_eq!(st, 201);
    let digest = preview["digest"].as_str().unwrap();
    let (st, err) = upload(
        &s,
        t.channel,
        &format!("?expect={digest}"),
        &t.owner_token,
        "text/csv",
        file,
    )
    .await;
    assert_eq!(st, 409, "{err}");
    assert_eq!(err["code"], "stale");
    assert!(
        err["message"].as_str().unwrap().contains("preview"),
        "{err}"
    );
    assert_eq!(customers(&s, t.channel, &t.owner_token).await.len(), 2);
}

#[tokio::test]
async fn the_import_is_in_the_openapi_document() {
    let s = start().await;
    let (_, doc) = s.call("GET", "/openapi.json", None, None).await;
    let op = &doc["paths"]["/api/v1/channels/{cid}/contacts/import"]["post"];
    assert!(op.is_object(), "{doc}");
    assert!(op["requestBody"]["content"]["text/vcard"].is_object());
    assert!(op["requestBody"]["content"]["text/csv"].is_object());
    assert!(doc["components"]["schemas"]["ImportPlan"].is_object());
}
