//! The demo channel: what a newcomer sees on first start. Created on an empty data
//! directory or with `--demo`, never twice.

use std::collections::BTreeMap;

use anyhow::Context;
use denwa_core::model::{ChatState, CustomerKind, Medium, MessageKind, Role};
use denwa_store::{ChannelPatch, CustomerInput, NewChannel, NewChat, PhoneInput, Store};

/// The demo channel's name (how an existing demo is recognised).
pub(crate) const CHANNEL_NAME: &str = "Denwa Demo";

/// The demo staff: e-mail, name, role.
const STAFF: [(&str, &str, Role); 3] = [
    ("sato@example.com", "佐藤 美咲", Role::Owner),
    ("suzuki@example.com", "鈴木 健", Role::Manager),
    ("tanaka@example.com", "田中 優", Role::Operator),
];

/// What to print about the demo.
pub(crate) struct Demo {
    channel_id: i64,
    number: String,
    /// `None` when the demo existed already (the password was printed then).
    password: Option<String>,
}

impl Demo {
    /// What `denwa serve` prints about the demo: the channel and the logins.
    pub(crate) fn banner(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = writeln!(
            s,
            "\nDemo channel \"{CHANNEL_NAME}\" (id {}), phone number {}",
            self.channel_id, self.number
        );
        let _ = match &self.password {
            Some(p) => writeln!(s, "Sign in with any of these (password: {p}):"),
            None => writeln!(
                s,
                "Sign in with any of these (password as printed when the demo was created, or DENWA_DEMO_PASSWORD):"
            ),
        };
        for (email, name, role) in STAFF {
            let _ = writeln!(s, "  {email:<22} {name}  ({role})");
        }
        s.push('\n');
        s
    }
}

fn phones(numbers: &[&str]) -> Option<Vec<PhoneInput>> {
    Some(
        numbers
            .iter()
            .map(|n| PhoneInput {
                number: (*n).to_owned(),
                mobile: None,
            })
            .collect(),
    )
}

fn profile(fields: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// The channel's numbers as its people write them, with E.164: `050-1234-5678 (+815012345678)`.
fn numbers_for_people(channel: &denwa_core::model::Channel) -> String {
    let region = channel.region.parse().unwrap_or(denwa_core::Region::JP);
    channel
        .phone_numbers
        .iter()
        .map(|n| match denwa_core::E164::from_stored(n) {
            Some(e) => format!("{} ({n})", e.display(region)),
            None => n.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates the demo unless it exists.
pub(crate) async fn ensure(store: &dyn Store, password: Option<String>) -> anyhow::Result<Demo> {
    if let Some(existing) = store
        .channels()
        .await?
        .into_iter()
        .find(|c| c.name == CHANNEL_NAME)
    {
        return Ok(Demo {
            channel_id: existing.id,
            number: numbers_for_people(&existing),
            password: None,
        });
    }
    let password = password.unwrap_or_else(|| denwa_store::random_token(6));
    let channel = store
        .create_channel(NewChannel {
            name: CHANNEL_NAME.into(),
            region: "JP".into(),
            time_zone: "Asia/Tokyo".into(),
            phone_numbers: vec!["050-1234-5678".into()],
        })
        .await
        .context("creating the demo channel")?;
    let cid = channel.id;
    store
        .update_channel(
            cid,
            ChannelPatch {
                name: None,
                ring_profile_fields: Some(vec!["会社".into(), "プラン".into(), "メモ".into()]),
                echo_number: None,
                locale: None,
            },
            None,
        )
        .await?;
    // A local SIPp or baresip may call the demo number from this machine.
    store
        .create_trunk(
            cid,
            denwa_store::TrunkInput {
                name: Some("Local test trunk".into()),
                allowed_sources: Some(vec!["127.0.0.1".into(), "::1".into()]),
                ..Default::default()
            },
            None,
        )
        .await?;

    let mut ids = Vec::new();
    for (email, name, role) in STAFF {
        let staff = match store.staff_by_email(email).await? {
            Some(s) => s,
            None => store.create_staff(email, name, &password).await?,
        };
        store.add_member(cid, staff.id, role, true).await?;
        ids.push(staff.id);
    }
    let (sato, suzuki, tanaka) = (ids[0], ids[1], ids[2]);
    let (support, _) = store
        .create_team(cid, "サポート", &[sato, tanaka], None)
        .await?;
    let (billing, _) = store.create_team(cid, "請求", &[suzuki], None).await?;

    let customer = |name: &str, kind, numbers: &[&str], fields: &[(&str, &str)]| CustomerInput {
        name: Some(name.to_owned()),
        kind: Some(kind),
        blocked: None,
        phones: phones(numbers),
        profile: profile(fields),
    };
    let (yamada, _) = store
        .create_customer(
            cid,
            customer(
                "山田 太郎",
                CustomerKind::Member,
                &["090-1111-2222"],
                &[
                    ("会社", "山田商事"),
                    ("プラン", "プロ"),
                    ("メモ", "午前中の連絡を希望"),
                ],
            ),
            None,
        )
        .await?;
    let (takahashi, _) = store
        .create_customer(
            cid,
            customer(
                "高橋 花子",
                CustomerKind::Member,
                &["03-1234-5678"],
                &[("会社", "高橋デザイン"), ("プラン", "ベーシック")],
            ),
            None,
        )
        .await?;
    let (emily, _) = store
        .create_customer(
            cid,
            customer(
                "Emily Clark",
                CustomerKind::Member,
                &["+1 415 555 2671"],
                &[("会社", "Clark & Co."), ("プラン", "Enterprise")],
            ),
            None,
        )
        .await?;
    let (lead, _) = store
        .create_customer(
            cid,
            customer("", CustomerKind::Lead, &["080-3333-4444"], &[]),
            None,
        )
        .await?;

    let chat = |customer_id, medium, source: &str, first: Option<&str>| NewChat {
        customer_id,
        medium,
        source: source.to_owned(),
        first_message: first.map(str::to_owned),
    };
    // A text chat about an invoice, with the billing team.
    let (c1, _) = store
        .create_chat(
            cid,
            chat(
                yamada.id,
                Medium::Chat,
                "web",
                Some("請求書の再発行をお願いします。"),
            ),
            None,
        )
        .await?;
    store.set_team(cid, c1.id, Some(billing.id), None).await?;
    store.set_assignee(cid, c1.id, Some(suzuki), None).await?;
    store.set_tags(cid, c1.id, &["請求".into()], None).await?;
    // A phone chat nobody has picked up yet.
    let (c2, _) = store
        .create_chat(cid, chat(takahashi.id, Medium::Phone, "phone", None), None)
        .await?;
    store
        .add_message(
            cid,
            c2.id,
            MessageKind::Note,
            Some(tanaka),
            "折り返しのお電話を希望されています。",
        )
        .await?;
    store.set_team(cid, c2.id, Some(support.id), None).await?;
    // A phone chat from an unknown number (a lead), already handled.
    let (c3, _) = store
        .create_chat(cid, chat(lead.id, Medium::Phone, "phone", None), None)
        .await?;
    store.set_assignee(cid, c3.id, Some(tanaka), None).await?;
    store
        .add_message(
            cid,
            c3.id,
            MessageKind::Note,
            Some(tanaka),
            "間違い電話でした。",
        )
        .await?;
    store
        .set_state(cid, c3.id, ChatState::Closed, None, Some(tanaka))
        .await?;
    // An English text chat.
    store
        .create_chat(
            cid,
            chat(
                emily.id,
                Medium::Chat,
                "web",
                Some("Hi, can I change the phone number on our account?"),
            ),
            None,
        )
        .await?;
    // A phone chat assigned to the owner.
    let (c5, _) = store
        .create_chat(cid, chat(yamada.id, Medium::Phone, "phone", None), None)
        .await?;
    store.set_assignee(cid, c5.id, Some(sato), None).await?;
    store
        .add_message(
            cid,
            c5.id,
            MessageKind::Note,
            Some(sato),
            "プラン変更について相談。見積もりを送付予定。",
        )
        .await?;

    Ok(Demo {
        channel_id: cid,
        number: numbers_for_people(&channel),
        password: Some(password),
    })
}
