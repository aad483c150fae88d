//! Contact import (SPEC OUT-6): a staff member's contact file planned against the
//! channel's contact list ([`denwa_core::contacts::plan_import`]) and, when applied,
//! carried out in the same transaction the plan was made in, so what is done is exactly
//! what was planned.

use denwa_core::contacts::{
    ContactFile, ImportAction, ImportCustomer, ImportPlan, KnownCustomer, KnownNumbers,
    plan_import, readable_numbers,
};
use denwa_core::model::{ChannelId, CustomerId, StaffId};
use denwa_core::{Event, EventKind, Region};
use serde_json::json;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{
    apply_customer_input, begin_write, channel_region, insert_event, load_customer, now_ms,
};
use crate::{CustomerInput, ImportMode, PhoneInput, Result, StoreError};

/// The customers of the channel owning any of the file's numbers.
async fn known_numbers(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    file: &ContactFile,
    region: Region,
) -> Result<KnownNumbers> {
    let mut known = KnownNumbers::default();
    for number in readable_numbers(file, region) {
        let owner: Option<CustomerId> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_phones WHERE channel_id = ? AND e164 = ?",
        )
        .bind(channel)
        .bind(number.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = owner else { continue };
        known.owners.insert(number.as_str().to_owned(), id);
        if known.customers.contains_key(&id) {
            continue;
        }
        let row = sqlx::query(
            "SELECT name, blocked,
                    (SELECT COUNT(*) FROM customer_phones p WHERE p.customer_id = c.id) AS phones
             FROM customers c WHERE c.id = ? AND c.channel_id = ?",
        )
        .bind(id)
        .bind(channel)
        .fetch_one(&mut *conn)
        .await?;
        known.customers.insert(
            id,
            KnownCustomer {
                id,
                name: row.get("name"),
                blocked: row.get::<i64, _>("blocked") != 0,
                phones: usize::try_from(row.get::<i64, _>("phones")).unwrap_or(0),
            },
        );
    }
    Ok(known)
}

async fn plan(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    file: &ContactFile,
) -> Result<ImportPlan> {
    let region = channel_region(conn, channel).await?;
    let known = known_numbers(conn, channel, file, region).await?;
    Ok(plan_import(file, region, &known))
}

pub(super) async fn import(
    pool: &SqlitePool,
    channel: ChannelId,
    file: &ContactFile,
    mode: ImportMode,
    actor: Option<StaffId>,
) -> Result<(ImportPlan, Vec<Event>)> {
    let expect = match mode {
        ImportMode::Preview => {
            // A read transaction: one snapshot of the contact list for the whole plan.
            let mut tx = pool.begin().await?;
            let plan = plan(&mut tx, channel, file).await?;
            tx.rollback().await?;
            return Ok((plan, Vec::new()));
        }
        ImportMode::Apply { expect } => expect,
    };
    let mut tx = begin_write(pool).await?;
    let mut plan = plan(&mut tx, channel, file).await?;
    if expect.is_some_and(|e| e != plan.digest) {
        return Err(StoreError::Stale(
            "the contact list changed since the preview: preview the file again".into(),
        ));
    }
    let mut events = Vec::new();
    for contact in &mut plan.contacts {
        let phones = |numbers: &[denwa_core::contacts::ImportNumber]| {
            numbers
                .iter()
                .filter(|n| !n.known)
                .map(|n| PhoneInput {
                    number: n.number.clone(),
                    mobile: n.mobile,
                })
                .collect::<Vec<_>>()
        };
        match contact.action {
            ImportAction::Create => {
                let now = now_ms();
                let id = super::insert_lead(&mut tx, channel, now).await?;
                let input = CustomerInput {
                    name: Some(contact.name.clone()),
                    phones: Some(phones(&contact.numbers)),
                    ..CustomerInput::default()
                };
                apply_customer_input(&mut tx, channel, id, &input).await?;
                let customer = load_customer(&mut tx, channel, id).await?;
                events.push(
                    insert_event(
                        &mut tx,
                        Some(channel),
                        None,
                        EventKind::CustomerCreated,
                        actor,
                        json!({ "customer": customer, "via": "contact_import" }),
                    )
                    .await?,
                );
                contact.customer = Some(ImportCustomer {
                    id,
                    name: customer.name,
                    blocked: customer.blocked,
                });
            }
            ImportAction::Join if contact.changes_customer() => {
                let Some(id) = contact.customer.as_ref().map(|c| c.id) else {
                    continue;
                };
                let before = load_customer(&mut tx, channel, id).await?;
                let mut all: Vec<PhoneInput> = before
                    .phones
                    .iter()
                    .map(|p| PhoneInput {
                        number: p.number.clone(),
                        mobile: Some(p.mobile),
                    })
                    .collect();
                all.extend(phones(&contact.numbers));
                let input = CustomerInput {
                    name: contact.sets_name.then(|| contact.name.clone()),
                    phones: Some(all),
                    ..CustomerInput::default()
                };
                apply_customer_input(&mut tx, channel, id, &input).await?;
                let customer = load_customer(&mut tx, channel, id).await?;
                events.push(
                    insert_event(
                        &mut tx,
                        Some(channel),
                        None,
                        EventKind::CustomerUpdated,
                        actor,
                        json!({ "customer": customer, "via": "contact_import" }),
                    )
                    .await?,
                );
            }
            ImportAction::Join | ImportAction::Skip => {}
        }
    }
    tx.commit().await?;
    plan.applied = true;
    Ok((plan, events))
}
