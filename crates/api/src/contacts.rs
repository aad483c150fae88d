//! Importing a staff member's own contacts (SPEC OUT-6; the browser upload stands in for
//! a phone's contact sync): `POST /api/v1/channels/{cid}/contacts/import` with the vCard
//! or CSV file as the body. `?preview=true` answers the plan — per contact: join the
//! customer owning one of its numbers, create a lead, or skip, and why — without
//! changing anything; without it the plan is carried out in one transaction (pass the
//! preview's `digest` as `expect` to insist on exactly that plan).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use denwa_core::contacts::{ContactFileError, ImportPlan, read_contact_file};
use denwa_core::model::ChannelId;
use denwa_store::ImportMode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query, StaffSession};

/// The largest contact file accepted, in bytes (about 10 000 vCards).
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_contacts))
        // Larger than the JSON routes' limit; one byte more than the largest file, so a
        // larger one is refused here and not read to the end.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES + 1))
}

/// How to import.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: answer what the import would do; nothing changes.
    pub preview: Option<bool>,
    /// Apply only if the plan is still the one a preview answered with this `digest`;
    /// otherwise 409 `stale` and nothing changes.
    pub expect: Option<String>,
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "import_too_large",
        format!(
            "the file is larger than {} MB; split it into smaller files",
            MAX_IMPORT_BYTES / 1024 / 1024
        ),
    )
}

fn file_error(e: ContactFileError) -> ApiError {
    let code = match e {
        ContactFileError::TooManyContacts => "too_many_contacts",
        _ => "invalid_contacts_file",
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
}

/// Import contacts from a vCard (`.vcf`) or CSV file (any member of the channel). Numbers
/// are read in the channel's region. A contact with a number the channel knows joins
/// that customer's history (its new numbers are added to the customer, an empty name is
/// filled); one with only new numbers becomes a lead; one with no usable number is
/// skipped with the reason. CSV needs a header row naming a phone column (`phone`, `tel`,
/// `mobile`, `電話番号`…) and optionally name columns (`name`, `名前`, first/last name…);
/// the answer says which columns were used.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/contacts/import", tag = "customers",
    security(("session" = [])),
    params(("cid" = i64, Path), ImportQuery),
    request_body(content(
        (String = "text/vcard"),
        (String = "text/csv"),
    ), description = "The contact file, at most 2 MB and 5000 contacts"),
    responses((status = 200, body = ImportPlan),
        (status = 400, body = ErrorBody, description = "not a contact file, or no phone column, or too many contacts"),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "`expect` is not the current plan"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn import_contacts(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<ImportPlan>, ApiError> {
    session.member_of(&state, cid).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let essence = content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence.starts_with("multipart/") || essence == "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file itself as the body, as text/vcard or text/csv",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the upload: {e}"))
        }
    })?;
    if body.len() > MAX_IMPORT_BYTES {
        return Err(too_large());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_contacts_file",
            "the body is empty: send the contact file (text/vcard or text/csv)",
        ));
    }
    let mode = match (q.preview.unwrap_or(false), q.expect) {
        (true, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "expect is for applying a preview; leave it out with preview=true",
            ));
        }
        (true, None) => ImportMode::Preview,
        (false, expect) => ImportMode::Apply { expect },
    };
    // Reading 2 MB of text is a few milliseconds of CPU: off the async workers anyway.
    let file =
        tokio::task::spawn_blocking(move || read_contact_file(&body, content_type.as_deref()))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "reading the file failed",
                )
            })?
            .map_err(file_error)?;
    let (plan, events) = state
        .store
        .import_contacts(cid, &file, mode, Some(session.staff.id))
        .await?;
    // A large import stores one event per contact: publish them in batches and let the
    // bus's other subscribers (search indexer, call service) run in between, so they do
    // not fall behind the bus and miss unrelated events.
    let mut events = events.into_iter();
    loop {
        let batch: Vec<_> = events.by_ref().take(256).collect();
        if batch.is_empty() {
            break;
        }
        state.publish(batch);
        tokio::task::yield_now().await;
    }
    if plan.applied {
        tracing::info!(
            channel = cid,
            staff = session.staff.id,
            contacts = plan.counts.contacts,
            joined = plan.counts.join,
            updated = plan.counts.updated,
            created = plan.counts.create,
            skipped = plan.counts.skip,
            "contacts imported"
        );
    }
    Ok(axum::Json(plan))
}
