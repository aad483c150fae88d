//! Statistics over HTTP (SPEC ST-1..ST-6).
//!
//! - Console (staff of the channel): `GET /api/v1/channels/{cid}/stats/dashboard`, the raw
//!   data export "UserChat meet data" as `…/stats/calls.csv` (streamed) and
//!   `…/stats/calls.xlsx`.
//! - Integrations (API key, headers or HTTP basic): the same data as JSON under
//!   `/open/v1/stats/…`, and a read-only **OData v4** service at `/open/v1/odata/` (service
//!   document, `$metadata`, entity sets `Calls` and `DailyStats`) with `$filter`
//!   (`eq ne gt ge lt le and`, parentheses, `null`), `$select`, `$top`, `$skip`, server
//!   paging (`@odata.nextLink`, `Prefer: odata.maxpagesize=N`) — what Excel, Power BI and
//!   Tableau connect to.
//!
//! Every range is at most 90 local days (wider: 400 `range_too_wide`). Definitions of the
//! metrics: [`denwa_core::stats`].

use std::fmt::Write as _;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use denwa_core::model::{ChannelId, StaffId, TeamId};
use denwa_core::stats::{
    CallField, CallFilter, CallRow, CmpOp, Dashboard, DashboardQuery, FieldType, FilterValue,
    LocalSlot, MAX_RANGE_DAYS, Metrics, Period, check_day, check_range, start_of_day, time_zone,
};
use denwa_store::CallRowQuery;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query, StaffSession};

/// Rows per page when exports read the store.
const EXPORT_PAGE: u32 = 5_000;
/// Largest OData page (clients may ask for less with `Prefer: odata.maxpagesize`).
const ODATA_PAGE: u32 = 5_000;
/// Rows an XLSX sheet holds below its header.
const XLSX_MAX_ROWS: usize = 1_048_575;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(export_csv))
        .routes(routes!(export_xlsx))
        .routes(routes!(open_dashboard))
        .routes(routes!(open_calls))
        .routes(routes!(open_daily))
}

/// The OData service (not in the OpenAPI document: it describes itself in `$metadata`).
pub(crate) fn odata_router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/open/v1/odata", get(odata_service))
        .route("/open/v1/odata/", get(odata_service))
        .route("/open/v1/odata/$metadata", get(odata_metadata))
        .route("/open/v1/odata/Calls", get(odata_calls))
        .route("/open/v1/odata/DailyStats", get(odata_daily))
}

fn range_error(e: denwa_core::CoreError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "range_too_wide", e.to_string())
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A local date range (inclusive) with defaults: `to` today, `from` 29 days before `to`.
fn local_range(
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    for day in [from, to].into_iter().flatten() {
        check_day(day).map_err(range_error)?;
    }
    let to = to.unwrap_or_else(|| LocalSlot::of(tz, Utc::now()).day);
    let from = from.unwrap_or_else(|| to - Duration::days(29));
    check_range(from, to).map_err(range_error)?;
    Ok((from, to))
}

async fn channel_tz(state: &AppState, cid: ChannelId) -> Result<(Tz, String), ApiError> {
    let channel = state.store.channel(cid).await?;
    let tz = time_zone(&channel.time_zone)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((tz, channel.time_zone))
}

/// Dashboard parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// First local day (`YYYY-MM-DD`; default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local day, inclusive (default: today). At most 90 days.
    pub to: Option<NaiveDate>,
    /// `day` (default), `week` (from Monday) or `month`.
    pub period: Option<Period>,
    /// Only calls routed to this team.
    pub team: Option<TeamId>,
    /// Only calls this staff member answered or placed.
    pub staff: Option<StaffId>,
}

async fn dashboard_of(
    state: &AppState,
    cid: ChannelId,
    p: DashboardParams,
) -> Result<Dashboard, ApiError> {
    let (tz, _) = channel_tz(state, cid).await?;
    let (from, to) = local_range(tz, p.from, p.to)?;
    Ok(state
        .store
        .dashboard(
            cid,
            DashboardQuery {
                from,
                to,
                period: p.period.unwrap_or_default(),
                team: p.team,
                staff: p.staff,
            },
        )
        .await?)
}

/// The statistics dashboard of a local date range (SPEC ST-1, ST-3, ST-4).
#[utoipa::path(get, path = "/api/v1/channels/{cid}/stats/dashboard", tag = "statistics",
    security(("session" = [])), params(("cid" = i64, Path), DashboardParams),
    responses((status = 200, body = Dashboard), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn dashboard(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Query(p): Query<DashboardParams>,
) -> Result<axum::Json<Dashboard>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(dashboard_of(&state, cid, p).await?))
}

/// Export parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// First local day (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local day, inclusive (default: today). At most 90 days.
    pub to: Option<NaiveDate>,
}

/// The export's columns, in order ("UserChat meet data", SPEC ST-2).
pub const EXPORT_COLUMNS: &[&str] = &[
    "call_id",
    "chat_id",
    "direction",
    "medium",
    "customer_number",
    "channel_number",
    "customer_id",
    "customer_name",
    "assignee",
    "team",
    "tags",
    "created_at",
    "answered_at",
    "ended_at",
    "ringing_seconds",
    "talk_seconds",
    "hold_seconds",
    "participants",
    "outcome",
    "missed_reason",
    "first_response_seconds",
    "wrap_up_seconds",
    "recording",
];

/// One export cell.
enum Cell {
    Empty,
    Int(i64),
    Seconds(i64),
    Text(String),
    /// Free text typed by people: guarded against spreadsheet formulas.
    UserText(String),
    Time(DateTime<Tz>),
}

fn cells(row: &CallRow, tz: Tz) -> Vec<Cell> {
    let opt_int = |v: Option<i64>| v.map_or(Cell::Empty, Cell::Int);
    let secs = |v: Option<i64>| v.map_or(Cell::Empty, Cell::Seconds);
    let text = |v: Option<&str>| v.map_or(Cell::Empty, |s| Cell::Text(s.to_owned()));
    let time =
        |v: Option<DateTime<Utc>>| v.map_or(Cell::Empty, |t| Cell::Time(t.with_timezone(&tz)));
    vec![
        Cell::Int(row.call_id),
        Cell::Int(row.chat_id),
        Cell::Text(row.direction.as_str().to_owned()),
        Cell::Text(row.medium.clone()),
        text(row.customer_number.as_deref()),
        text(row.channel_number.as_deref()),
        opt_int(row.customer_id),
        row.customer_name
            .clone()
            .filter(|s| !s.is_empty())
            .map_or(Cell::Empty, Cell::UserText),
        row.assignee_name
            .clone()
            .map_or(Cell::Empty, Cell::UserText),
        row.team_name.clone().map_or(Cell::Empty, Cell::UserText),
        Cell::UserText(row.tags.join(";")),
        time(Some(row.started_at)),
        time(row.answered_at),
        time(row.ended_at),
        secs(row.ringing_ms),
        secs(row.talk_ms),
        Cell::Seconds(row.hold_ms),
        Cell::UserText(row.participants.join(";")),
        text(row.outcome.map(|o| o.as_str())),
        text(row.missed_reason.map(|m| m.as_str())),
        secs(row.first_response_ms),
        secs(row.wrap_up_ms),
        text(row.recording.as_deref()),
    ]
}

/// Free text that a spreadsheet would read as a formula gets a leading apostrophe.
fn guard(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_line(out: &mut String, cells: &[Cell]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match c {
            Cell::Empty => {}
            Cell::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Cell::Seconds(ms) => {
                let _ = write!(out, "{}", seconds(*ms));
            }
            Cell::Text(s) => csv_field(out, s),
            Cell::UserText(s) => csv_field(out, &guard(s)),
            Cell::Time(t) => {
                let _ = write!(
                    out,
                    "{}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                );
            }
        }
    }
    out.push_str("\r\n");
}

async fn export_range(
    state: &AppState,
    cid: ChannelId,
    p: &ExportParams,
) -> Result<(Tz, NaiveDate, NaiveDate, CallRowQuery), ApiError> {
    let (tz, _) = channel_tz(state, cid).await?;
    let (from, to) = local_range(tz, p.from, p.to)?;
    let q = CallRowQuery {
        from: start_of_day(tz, from),
        to: start_of_day(tz, to + Duration::days(1)),
        filters: vec![],
        after: None,
        offset: 0,
        limit: EXPORT_PAGE,
    };
    Ok((tz, from, to, q))
}

fn attachment(name: &str, content_type: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h
}

/// Raw data export "UserChat meet data" as CSV (UTF-8 with BOM, one row per call, times
/// in the channel's time zone, durations in seconds), streamed page by page.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/stats/calls.csv", tag = "statistics",
    security(("session" = [])), params(("cid" = i64, Path), ExportParams),
    responses((status = 200, content_type = "text/csv", body = String),
              (status = 400, body = ErrorBody)))]
async fn export_csv(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Query(p): Query<ExportParams>,
) -> Result<Response, ApiError> {
    session.member_of(&state, cid).await?;
    let (tz, from, to, q) = export_range(&state, cid, &p).await?;
    let mut head = String::from("\u{feff}");
    head.push_str(&EXPORT_COLUMNS.join(","));
    head.push_str("\r\n");
    // The first page is read before answering, so a failing store is a clean error.
    let first = state.store.call_rows(cid, &q).await?;
    struct Cursor {
        state: AppState,
        cid: ChannelId,
        q: CallRowQuery,
        page: Option<Vec<CallRow>>,
        head: Option<String>,
        tz: Tz,
    }
    let cursor = Cursor {
        state,
        cid,
        q,
        page: Some(first),
        head: Some(head),
        tz,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        if let Some(h) = c.head.take() {
            return Some((Ok::<Bytes, std::io::Error>(Bytes::from(h)), c));
        }
        let page = match c.page.take() {
            Some(p) => p,
            None => return None,
        };
        if page.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(page.len() * 200);
        for row in &page {
            csv_line(&mut out, &cells(row, c.tz));
        }
        if page.len() as u32 == c.q.limit {
            let last = &page[page.len() - 1];
            c.q.after = Some((last.started_at, last.call_id));
            match c.state.store.call_rows(c.cid, &c.q).await {
                Ok(next) => c.page = Some(next),
                Err(e) => {
                    tracing::warn!(error = %e, "csv export stopped");
                    return Some((Err(std::io::Error::other(e.to_string())), c));
                }
            }
        }
        Some((Ok(Bytes::from(out)), c))
    });
    Ok((
        attachment(&format!("calls-{from}-{to}.csv"), "text/csv; charset=utf-8"),
        Body::from_stream(stream),
    )
        .into_response())
}

/// Raw data export as XLSX (one sheet, times as Excel date-times in the channel's time
/// zone). Larger than a sheet (1 048 575 rows): 400, use the CSV.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/stats/calls.xlsx", tag = "statistics",
    security(("session" = [])), params(("cid" = i64, Path), ExportParams),
    responses((status = 200,
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               body = Vec<u8>),
              (status = 400, body = ErrorBody)))]
async fn export_xlsx(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Query(p): Query<ExportParams>,
) -> Result<Response, ApiError> {
    session.member_of(&state, cid).await?;
    let (tz, from, to, mut q) = export_range(&state, cid, &p).await?;
    let mut rows = Vec::new();
    loop {
        let page = state.store.call_rows(cid, &q).await?;
        let full = page.len() as u32 == q.limit;
        if let Some(last) = page.last() {
            q.after = Some((last.started_at, last.call_id));
        }
        rows.extend(page.iter().map(|r| cells(r, tz)));
        if rows.len() > XLSX_MAX_ROWS {
            return Err(bad(
                "too_many_rows",
                format!(
                    "more than {XLSX_MAX_ROWS} calls do not fit in one sheet; export CSV or a shorter range"
                ),
            ));
        }
        if !full {
            break;
        }
    }
    let bytes = tokio::task::spawn_blocking(move || xlsx(&rows))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        attachment(
            &format!("calls-{from}-{to}.xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        bytes,
    )
        .into_response())
}

fn xlsx(rows: &[Vec<Cell>]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("UserChat meet data")?;
    let bold = Format::new().set_bold();
    let when = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, name) in EXPORT_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (r, cells) in rows.iter().enumerate() {
        let r = (r + 1) as u32;
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Int(v) => {
                    sheet.write_number(r, c, *v as f64)?;
                }
                Cell::Seconds(ms) => {
                    sheet.write_number(r, c, seconds(*ms))?;
                }
                Cell::Text(s) | Cell::UserText(s) => {
                    // A string cell is never evaluated as a formula.
                    sheet.write_string(r, c, s)?;
                }
                Cell::Time(t) => {
                    sheet.write_datetime_with_format(r, c, t.naive_local(), &when)?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    book.save_to_buffer()
}

// ---- integrations: API key by headers or HTTP basic

/// An integration's channel, from `x-access-key` / `x-access-secret` or HTTP basic
/// (`access key : secret`), as BI tools send it. Refusals carry `WWW-Authenticate`.
#[derive(Debug, Clone, Copy)]
pub struct BiChannel(pub ChannelId);

fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (k, s) = text.split_once(':')?;
    Some((k.to_owned(), s.to_owned()))
}

fn unauthorized() -> Response {
    let mut r = ApiError::unauthorized().into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"denwa\", charset=\"UTF-8\""),
    );
    r
}

impl<S> FromRequestParts<S> for BiChannel
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (key, secret) = match (header("x-access-key"), header("x-access-secret")) {
            (Some(k), Some(s)) => (k, s),
            _ => basic_credentials(parts).ok_or_else(unauthorized)?,
        };
        if key.is_empty() || secret.is_empty() || key.len() > 256 || secret.len() > 256 {
            return Err(unauthorized());
        }
        match state.store.verify_api_key(&key, &secret).await {
            Ok(Some(cid)) => Ok(BiChannel(cid)),
            Ok(None) => Err(unauthorized()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

/// The dashboard of the key's channel.
#[utoipa::path(get, path = "/open/v1/stats/dashboard", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(DashboardParams),
    responses((status = 200, body = Dashboard), (status = 400, body = ErrorBody)))]
async fn open_dashboard(
    State(state): State<AppState>,
    BiChannel(cid): BiChannel,
    Query(p): Query<DashboardParams>,
) -> Result<axum::Json<Dashboard>, ApiError> {
    Ok(axum::Json(dashboard_of(&state, cid, p).await?))
}

/// Call rows page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallsParams {
    /// First local day (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last local day, inclusive (default: today). At most 90 days.
    pub to: Option<NaiveDate>,
    /// Rows per page, 1–5000 (default 1000).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

/// A page of call rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsPage {
    /// Rows, by start time.
    pub calls: Vec<CallRow>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next: Option<String>,
}

/// The call rows ("UserChat meet data") of the key's channel, page by page.
#[utoipa::path(get, path = "/open/v1/stats/calls", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(CallsParams),
    responses((status = 200, body = CallsPage), (status = 400, body = ErrorBody)))]
async fn open_calls(
    State(state): State<AppState>,
    BiChannel(cid): BiChannel,
    Query(p): Query<CallsParams>,
) -> Result<axum::Json<CallsPage>, ApiError> {
    let (tz, _) = channel_tz(&state, cid).await?;
    let (from, to) = local_range(tz, p.from, p.to)?;
    let limit = p.limit.unwrap_or(1000);
    if !(1..=5000).contains(&limit) {
        return Err(bad("invalid_limit", "limit must be between 1 and 5000"));
    }
    let after = match p.cursor.as_deref() {
        None => None,
        Some(c) => {
            let (at, id) = c
                .split_once('_')
                .and_then(|(a, i)| Some((a.parse::<i64>().ok()?, i.parse::<i64>().ok()?)))
                .ok_or_else(|| bad("invalid_cursor", "cursor is not one this API gave"))?;
            Some((
                DateTime::from_timestamp_millis(at)
                    .ok_or_else(|| bad("invalid_cursor", "cursor is not one this API gave"))?,
                id,
            ))
        }
    };
    let q = CallRowQuery {
        from: start_of_day(tz, from),
        to: start_of_day(tz, to + Duration::days(1)),
        filters: vec![],
        after,
        offset: 0,
        limit,
    };
    let calls = state.store.call_rows(cid, &q).await?;
    let next = (calls.len() as u32 == limit)
        .then(|| {
            calls
                .last()
                .map(|l| format!("{}_{}", l.started_at.timestamp_millis(), l.call_id))
        })
        .flatten();
    Ok(axum::Json(CallsPage { calls, next }))
}

/// One local day's metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyMetrics {
    /// Local day.
    pub date: NaiveDate,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Per-day metrics of the key's channel.
#[utoipa::path(get, path = "/open/v1/stats/daily", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(ExportParams),
    responses((status = 200, body = Vec<DailyMetrics>), (status = 400, body = ErrorBody)))]
async fn open_daily(
    State(state): State<AppState>,
    BiChannel(cid): BiChannel,
    Query(p): Query<ExportParams>,
) -> Result<axum::Json<Vec<DailyMetrics>>, ApiError> {
    let d = dashboard_of(
        &state,
        cid,
        DashboardParams {
            from: p.from,
            to: p.to,
            period: Some(Period::Day),
            team: None,
            staff: None,
        },
    )
    .await?;
    Ok(axum::Json(
        d.series
            .into_iter()
            .map(|s| DailyMetrics {
                date: s.start,
                metrics: s.metrics,
            })
            .collect(),
    ))
}

// ---- OData v4

/// An OData error (`{"error": {"code", "message"}}`, OData JSON Format §21).
fn odata_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": message.into()}}).to_string(),
    )
        .into_response()
}

fn odata_json(body: Value) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/json;odata.metadata=minimal",
            ),
            (header::HeaderName::from_static("odata-version"), "4.0"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn service_root(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/open/v1/odata/")
}

async fn odata_service(_key: BiChannel, headers: HeaderMap) -> Response {
    let root = service_root(&headers);
    odata_json(json!({
        "@odata.context": format!("{root}$metadata"),
        "value": [
            {"name": "Calls", "kind": "EntitySet", "url": "Calls"},
            {"name": "DailyStats", "kind": "EntitySet", "url": "DailyStats"},
        ]
    }))
}

/// An entity property: OData name, Edm type, nullable.
struct Prop {
    name: &'static str,
    edm: &'static str,
    nullable: bool,
}

const fn p(name: &'static str, edm: &'static str, nullable: bool) -> Prop {
    Prop {
        name,
        edm,
        nullable,
    }
}

const CALL_PROPS: &[Prop] = &[
    p("CallId", "Edm.Int64", false),
    p("ChatId", "Edm.Int64", false),
    p("Direction", "Edm.String", false),
    p("Medium", "Edm.String", false),
    p("CustomerNumber", "Edm.String", true),
    p("ChannelNumber", "Edm.String", true),
    p("CustomerId", "Edm.Int64", true),
    p("CustomerName", "Edm.String", true),
    p("AssigneeId", "Edm.Int64", true),
    p("AssigneeName", "Edm.String", true),
    p("TeamId", "Edm.Int64", true),
    p("TeamName", "Edm.String", true),
    p("StaffId", "Edm.Int64", true),
    p("Tags", "Edm.String", false),
    p("StartedAt", "Edm.DateTimeOffset", false),
    p("AnsweredAt", "Edm.DateTimeOffset", true),
    p("EndedAt", "Edm.DateTimeOffset", true),
    p("RingingMs", "Edm.Int64", true),
    p("TalkMs", "Edm.Int64", true),
    p("HoldMs", "Edm.Int64", false),
    p("Participants", "Edm.String", false),
    p("Outcome", "Edm.String", true),
    p("MissedReason", "Edm.String", true),
    p("FirstResponseMs", "Edm.Int64", true),
    p("WrapUpMs", "Edm.Int64", true),
    p("Recording", "Edm.String", true),
];

const DAILY_PROPS: &[Prop] = &[
    p("Date", "Edm.Date", false),
    p("Calls", "Edm.Int64", false),
    p("Inbound", "Edm.Int64", false),
    p("Outbound", "Edm.Int64", false),
    p("Answered", "Edm.Int64", false),
    p("InboundAnswered", "Edm.Int64", false),
    p("OutboundAnswered", "Edm.Int64", false),
    p("Missed", "Edm.Int64", false),
    p("MissedNotInOperation", "Edm.Int64", false),
    p("MissedNoOperator", "Edm.Int64", false),
    p("MissedUserLeft", "Edm.Int64", false),
    p("InboundCompletionRate", "Edm.Double", true),
    p("OutboundCompletionRate", "Edm.Double", true),
    p("AvgCallDurationMs", "Edm.Double", true),
    p("AvgFirstResponseMs", "Edm.Double", true),
    p("AvgWrapUpMs", "Edm.Double", true),
    p("ServiceLevel", "Edm.Double", true),
    p("AvgSpeedOfAnswerMs", "Edm.Double", true),
    p("AbandonmentRate", "Edm.Double", true),
];

fn entity_xml(out: &mut String, name: &str, key: &str, props: &[Prop]) {
    let _ = write!(
        out,
        "<EntityType Name=\"{name}\"><Key><PropertyRef Name=\"{key}\"/></Key>"
    );
    for p in props {
        let _ = write!(
            out,
            "<Property Name=\"{}\" Type=\"{}\" Nullable=\"{}\"/>",
            p.name, p.edm, p.nullable
        );
    }
    out.push_str("</EntityType>");
}

/// The service's CSDL (OData v4 CSDL XML).
pub fn metadata_xml() -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\
         <edmx:DataServices>\
         <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Denwa\">",
    );
    entity_xml(&mut x, "Call", "CallId", CALL_PROPS);
    entity_xml(&mut x, "DailyStat", "Date", DAILY_PROPS);
    x.push_str(
        "<EntityContainer Name=\"Container\">\
         <EntitySet Name=\"Calls\" EntityType=\"Denwa.Call\"/>\
         <EntitySet Name=\"DailyStats\" EntityType=\"Denwa.DailyStat\"/>\
         </EntityContainer></Schema></edmx:DataServices></edmx:Edmx>",
    );
    x
}

async fn odata_metadata(_key: BiChannel) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/xml"),
            (header::HeaderName::from_static("odata-version"), "4.0"),
        ],
        metadata_xml(),
    )
        .into_response()
}

/// Decoding of a query component as browsers and HTTP libraries encode it (`+` is a
/// space; a literal plus arrives as `%2B`).
fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "the query is not UTF-8".to_owned())
}

/// The system and custom query options of an OData request.
#[derive(Debug, Default)]
struct ODataQuery {
    filter: Option<String>,
    select: Option<Vec<String>>,
    top: Option<u64>,
    skip: u64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

fn parse_odata_query(raw: Option<&str>) -> Result<ODataQuery, String> {
    let mut q = ODataQuery::default();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        match k.as_str() {
            "$filter" => q.filter = Some(v),
            "$select" => {
                q.select = Some(
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "$top" => q.top = Some(v.parse().map_err(|_| "$top must be a whole number")?),
            "$skip" => q.skip = v.parse().map_err(|_| "$skip must be a whole number")?,
            "$format" if v == "json" || v.starts_with("application/json") => {}
            "$count" if v == "false" => {}
            // The only order served is the natural one.
            "$orderby"
                if matches!(
                    v.trim(),
                    "StartedAt" | "StartedAt asc" | "CallId" | "CallId asc" | "Date" | "Date asc"
                ) => {}
            "from" => q.from = Some(v.parse().map_err(|_| "from must be YYYY-MM-DD")?),
            "to" => q.to = Some(v.parse().map_err(|_| "to must be YYYY-MM-DD")?),
            other if other.starts_with('$') => {
                return Err(format!("the query option {other}={v} is not supported"));
            }
            // Other custom query options are ignored (OData §5.2).
            _ => {}
        }
    }
    Ok(q)
}

/// A token of `$filter`.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Str(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '\'' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            v.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => v.push(c),
                        None => return Err("a string literal is not closed".into()),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut v = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, ' ' | '\t' | '(' | ')' | '\'') {
                        break;
                    }
                    v.push(c);
                    chars.next();
                }
                out.push(Tok::Word(v));
            }
        }
    }
    Ok(out)
}

/// A comparison as parsed, before its value is typed.
#[derive(Debug, Clone)]
struct Cmp {
    field: String,
    op: CmpOp,
    value: Tok,
}

/// `$filter`: comparisons joined by `and`, with parentheses.
fn parse_filter(s: &str) -> Result<Vec<Cmp>, String> {
    let toks = tokenize(s)?;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut expect_cmp = true;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open if expect_cmp => {
                depth += 1;
                i += 1;
            }
            Tok::Close if !expect_cmp && depth > 0 => {
                depth -= 1;
                i += 1;
            }
            Tok::Word(w) if !expect_cmp && w == "and" => {
                expect_cmp = true;
                i += 1;
            }
            Tok::Word(w) if !expect_cmp && (w == "or" || w == "not") => {
                return Err(format!("{w} is not supported in $filter (only and)"));
            }
            Tok::Word(field) if expect_cmp => {
                let op = match toks.get(i + 1) {
                    Some(Tok::Word(o)) => match o.as_str() {
                        "eq" => CmpOp::Eq,
                        "ne" => CmpOp::Ne,
                        "gt" => CmpOp::Gt,
                        "ge" => CmpOp::Ge,
                        "lt" => CmpOp::Lt,
                        "le" => CmpOp::Le,
                        other => return Err(format!("unknown operator {other}")),
                    },
                    _ => return Err(format!("{field} must be followed by an operator")),
                };
                let value = match toks.get(i + 2) {
                    Some(v @ (Tok::Word(_) | Tok::Str(_))) => v.clone(),
                    _ => return Err(format!("{field} needs a value to compare with")),
                };
                out.push(Cmp {
                    field: field.clone(),
                    op,
                    value,
                });
                expect_cmp = false;
                i += 3;
            }
            t => return Err(format!("unexpected {t:?} in $filter")),
        }
    }
    if expect_cmp && !toks.is_empty() {
        return Err("$filter ends too early".into());
    }
    if depth != 0 {
        return Err("unbalanced parentheses in $filter".into());
    }
    Ok(out)
}

/// Reads a date-time literal (`2026-03-01T00:00:00Z`, `…+09:00`; a space where a `+` was
/// form-decoded; no offset = UTC; a bare date = midnight UTC). A time whose UTC day is
/// outside [`denwa_core::stats::DAYS`] is not one.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    parse_any_time(s).filter(|t| check_day(t.date_naive()).is_ok())
}

fn parse_any_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(d) = s.parse::<NaiveDate>() {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

fn typed(c: &Cmp) -> Result<CallFilter, String> {
    let field = CallField::parse(&c.field)
        .ok_or_else(|| format!("{} cannot be filtered on Calls", c.field))?;
    let value = match (&c.value, field.kind()) {
        (Tok::Word(w), _) if w == "null" => {
            if !matches!(c.op, CmpOp::Eq | CmpOp::Ne) {
                return Err("null can only be compared with eq or ne".into());
            }
            FilterValue::Null
        }
        (Tok::Word(w), FieldType::Int) => FilterValue::Int(
            w.parse()
                .map_err(|_| format!("{} takes a whole number, not {w}", c.field))?,
        ),
        (Tok::Str(s), FieldType::Text) => FilterValue::Text(s.clone()),
        (Tok::Word(w) | Tok::Str(w), FieldType::Time) => FilterValue::Time(
            parse_time(w).ok_or_else(|| format!("{} takes a date-time, not {w}", c.field))?,
        ),
        (v, _) => return Err(format!("{} cannot be compared with {v:?}", c.field)),
    };
    Ok(CallFilter {
        field,
        op: c.op,
        value,
    })
}

/// The UTC range a Calls request covers: from `StartedAt` bounds in `$filter`, else the
/// `from`/`to` local days, else the last 30 local days. At most 90 days.
fn calls_range(
    tz: Tz,
    q: &ODataQuery,
    filters: &[CallFilter],
) -> Result<(DateTime<Utc>, DateTime<Utc>), Box<Response>> {
    let mut lower: Option<DateTime<Utc>> = None;
    let mut upper: Option<DateTime<Utc>> = None;
    for f in filters {
        if let (CallField::StartedAt, FilterValue::Time(t)) = (f.field, &f.value) {
            match f.op {
                CmpOp::Ge | CmpOp::Gt => lower = Some(lower.map_or(*t, |l| l.max(*t))),
                CmpOp::Lt => upper = Some(upper.map_or(*t, |u| u.min(*t))),
                CmpOp::Le => {
                    let t = *t + Duration::milliseconds(1);
                    upper = Some(upper.map_or(t, |u| u.min(t)));
                }
                CmpOp::Eq => {
                    lower = Some(*t);
                    upper = Some(*t + Duration::milliseconds(1));
                }
                CmpOp::Ne => {}
            }
        }
    }
    let (from, to) = match (lower, upper) {
        (None, None) => {
            let (f, t) = local_range(tz, q.from, q.to).map_err(|e| {
                Box::new(odata_error(
                    StatusCode::BAD_REQUEST,
                    "range_too_wide",
                    e.message,
                ))
            })?;
            (start_of_day(tz, f), start_of_day(tz, t + Duration::days(1)))
        }
        (Some(l), Some(u)) => (l, u),
        (Some(l), None) => (l, Utc::now().max(l)),
        (None, Some(u)) => (u - Duration::days(30), u),
    };
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(Box::new(odata_error(
            StatusCode::BAD_REQUEST,
            "range_too_wide",
            format!(
                "the range {from} – {to} is wider than {MAX_RANGE_DAYS} days; narrow the StartedAt filter"
            ),
        )));
    }
    Ok((from, to))
}

fn max_page(headers: &HeaderMap) -> u32 {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")?
                .trim()
                .parse()
                .ok()
        })
        .map_or(ODATA_PAGE, |n: u32| n.clamp(1, ODATA_PAGE))
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The next page's URL: the same options with `$skip` moved on (and `$top` reduced).
fn next_link(root: &str, set: &str, q: &ODataQuery, skip: u64, top: Option<u64>) -> String {
    let mut parts = Vec::new();
    if let Some(f) = &q.filter {
        parts.push(format!("$filter={}", encode(f)));
    }
    if let Some(s) = &q.select {
        parts.push(format!("$select={}", encode(&s.join(","))));
    }
    if let Some(t) = top {
        parts.push(format!("$top={t}"));
    }
    parts.push(format!("$skip={skip}"));
    if let Some(f) = q.from {
        parts.push(format!("from={f}"));
    }
    if let Some(t) = q.to {
        parts.push(format!("to={t}"));
    }
    format!("{root}{set}?{}", parts.join("&"))
}

fn select(entity: Map<String, Value>, select: &Option<Vec<String>>) -> Value {
    match select {
        None => Value::Object(entity),
        Some(names) if names.iter().any(|n| n == "*") => Value::Object(entity),
        Some(names) => Value::Object(
            entity
                .into_iter()
                .filter(|(k, _)| names.contains(k))
                .collect(),
        ),
    }
}

fn check_select(q: &ODataQuery, props: &[Prop]) -> Result<(), Box<Response>> {
    for name in q.select.iter().flatten() {
        if name != "*" && !props.iter().any(|p| p.name == name) {
            return Err(Box::new(odata_error(
                StatusCode::BAD_REQUEST,
                "invalid_select",
                format!("{name} is not a property"),
            )));
        }
    }
    Ok(())
}

fn call_entity(r: &CallRow) -> Map<String, Value> {
    let t = |v: Option<DateTime<Utc>>| {
        v.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("CallId", json!(r.call_id));
    put("ChatId", json!(r.chat_id));
    put("Direction", json!(r.direction.as_str()));
    put("Medium", json!(r.medium));
    put("CustomerNumber", json!(r.customer_number));
    put("ChannelNumber", json!(r.channel_number));
    put("CustomerId", json!(r.customer_id));
    put("CustomerName", json!(r.customer_name));
    put("AssigneeId", json!(r.assignee_id));
    put("AssigneeName", json!(r.assignee_name));
    put("TeamId", json!(r.team_id));
    put("TeamName", json!(r.team_name));
    put("StaffId", json!(r.staff_id));
    put("Tags", json!(r.tags.join(";")));
    put("StartedAt", json!(t(Some(r.started_at))));
    put("AnsweredAt", json!(t(r.answered_at)));
    put("EndedAt", json!(t(r.ended_at)));
    put("RingingMs", json!(r.ringing_ms));
    put("TalkMs", json!(r.talk_ms));
    put("HoldMs", json!(r.hold_ms));
    put("Participants", json!(r.participants.join(";")));
    put("Outcome", json!(r.outcome.map(|o| o.as_str())));
    put("MissedReason", json!(r.missed_reason.map(|m| m.as_str())));
    put("FirstResponseMs", json!(r.first_response_ms));
    put("WrapUpMs", json!(r.wrap_up_ms));
    put("Recording", json!(r.recording));
    m
}

async fn odata_calls(
    State(state): State<AppState>,
    BiChannel(cid): BiChannel,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match parse_odata_query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, "invalid_query", e),
    };
    if let Err(r) = check_select(&q, CALL_PROPS) {
        return *r;
    }
    let filters = match q
        .filter
        .as_deref()
        .map(parse_filter)
        .transpose()
        .and_then(|c| {
            c.unwrap_or_default()
                .iter()
                .map(typed)
                .collect::<Result<Vec<_>, _>>()
        }) {
        Ok(f) => f,
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, "invalid_filter", e),
    };
    let (tz, _) = match channel_tz(&state, cid).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let (from, to) = match calls_range(tz, &q, &filters) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let page = u64::from(max_page(&headers));
    let take = q.top.map_or(page, |t| t.min(page));
    let rq = CallRowQuery {
        from,
        to,
        filters,
        after: None,
        offset: q.skip,
        limit: u32::try_from(take + 1).unwrap_or(u32::MAX),
    };
    let mut rows = match state.store.call_rows(cid, &rq).await {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let more = rows.len() as u64 > take;
    rows.truncate(take as usize);
    let root = service_root(&headers);
    let mut body = json!({
        "@odata.context": format!("{root}$metadata#Calls"),
        "value": rows.iter().map(|r| select(call_entity(r), &q.select)).collect::<Vec<_>>(),
    });
    let rest = q.top.map(|t| t.saturating_sub(take));
    if more && rest != Some(0) {
        body["@odata.nextLink"] = json!(next_link(&root, "Calls", &q, q.skip + take, rest));
    }
    odata_json(body)
}

fn daily_entity(date: NaiveDate, m: &Metrics) -> Map<String, Value> {
    let mut e = Map::new();
    let mut put = |k: &str, v: Value| {
        e.insert(k.to_owned(), v);
    };
    put("Date", json!(date.to_string()));
    put("Calls", json!(m.total));
    put("Inbound", json!(m.inbound));
    put("Outbound", json!(m.outbound));
    put("Answered", json!(m.answered));
    put("InboundAnswered", json!(m.inbound_answered));
    put("OutboundAnswered", json!(m.outbound_answered));
    put("Missed", json!(m.missed));
    put(
        "MissedNotInOperation",
        json!(m.missed_by_reason.not_in_operation),
    );
    put("MissedNoOperator", json!(m.missed_by_reason.no_operator));
    put("MissedUserLeft", json!(m.missed_by_reason.user_left));
    put("InboundCompletionRate", json!(m.inbound_completion_rate));
    put("OutboundCompletionRate", json!(m.outbound_completion_rate));
    put("AvgCallDurationMs", json!(m.avg_call_duration_ms));
    put("AvgFirstResponseMs", json!(m.avg_first_response_ms));
    put("AvgWrapUpMs", json!(m.avg_wrap_up_ms));
    put("ServiceLevel", json!(m.service_level));
    put("AvgSpeedOfAnswerMs", json!(m.avg_speed_of_answer_ms));
    put("AbandonmentRate", json!(m.abandonment_rate));
    e
}

/// The local day range of a DailyStats request: `Date` bounds in `$filter` (the only
/// property it filters on), else `from`/`to`, else the last 30 days.
fn daily_range(tz: Tz, q: &ODataQuery) -> Result<(NaiveDate, NaiveDate), String> {
    let mut from = q.from;
    let mut to = q.to;
    if let Some(f) = &q.filter {
        for c in parse_filter(f)? {
            if c.field != "Date" {
                return Err(format!("DailyStats filters on Date only, not {}", c.field));
            }
            let (Tok::Word(v) | Tok::Str(v)) = &c.value else {
                return Err("Date takes a date".into());
            };
            let d: NaiveDate = v.parse().map_err(|_| format!("{v} is not a date"))?;
            check_day(d).map_err(|e| e.to_string())?;
            match c.op {
                CmpOp::Eq => {
                    from = Some(d);
                    to = Some(d);
                }
                CmpOp::Ge => from = Some(from.map_or(d, |f| f.max(d))),
                CmpOp::Gt => {
                    let d = d + Duration::days(1);
                    from = Some(from.map_or(d, |f| f.max(d)));
                }
                CmpOp::Le => to = Some(to.map_or(d, |t| t.min(d))),
                CmpOp::Lt => {
                    let d = d - Duration::days(1);
                    to = Some(to.map_or(d, |t| t.min(d)));
                }
                CmpOp::Ne => return Err("Date ne is not supported".into()),
            }
        }
    }
    for day in [q.from, q.to].into_iter().flatten() {
        check_day(day).map_err(|e| e.to_string())?;
    }
    let to = to.unwrap_or_else(|| LocalSlot::of(tz, Utc::now()).day);
    let from = from.unwrap_or_else(|| to - Duration::days(29));
    check_range(from, to).map_err(|e| e.to_string())?;
    Ok((from, to))
}

async fn odata_daily(
    State(state): State<AppState>,
    BiChannel(cid): BiChannel,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match parse_odata_query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, "invalid_query", e),
    };
    if let Err(r) = check_select(&q, DAILY_PROPS) {
        return *r;
    }
    let (tz, _) = match channel_tz(&state, cid).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let (from, to) = match daily_range(tz, &q) {
        Ok(r) => r,
        Err(e) if e.contains("at most") || e.contains("before it starts") => {
            return odata_error(StatusCode::BAD_REQUEST, "range_too_wide", e);
        }
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, "invalid_filter", e),
    };
    let d = match state
        .store
        .dashboard(
            cid,
            DashboardQuery {
                from,
                to,
                period: Period::Day,
                team: None,
                staff: None,
            },
        )
        .await
    {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let page = u64::from(max_page(&headers));
    let take = q.top.map_or(page, |t| t.min(page));
    let all: Vec<_> = d.series.iter().skip(q.skip as usize).collect();
    let more = all.len() as u64 > take;
    let root = service_root(&headers);
    let mut body = json!({
        "@odata.context": format!("{root}$metadata#DailyStats"),
        "value": all.iter().take(take as usize)
            .map(|s| select(daily_entity(s.start, &s.metrics), &q.select))
            .collect::<Vec<_>>(),
    });
    let rest = q.top.map(|t| t.saturating_sub(take));
    if more && rest != Some(0) {
        body["@odata.nextLink"] = json!(next_link(&root, "DailyStats", &q, q.skip + take, rest));
    }
    odata_json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_typed_conditions() {
        let c = parse_filter(
            "(Direction eq 'inbound' and MissedReason eq null) and StartedAt ge 2026-03-01T00:00:00+09:00 and TalkMs gt 1000",
        )
        .unwrap();
        let f: Vec<_> = c.iter().map(typed).collect::<Result<_, _>>().unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].value, FilterValue::Text("inbound".into()));
        assert_eq!(f[1].value, FilterValue::Null);
        assert_eq!(
            f[2].value,
            FilterValue::Time("2026-02-28T15:00:00Z".parse().unwrap())
        );
        assert_eq!(f[3].op, CmpOp::Gt);
        assert!(parse_filter("Direction eq 'a' or Direction eq 'b'").is_err());
        assert!(parse_filter("Direction eq").is_err());
        assert!(parse_filter("(Direction eq 'x'").is_err());
        assert!(typed(&parse_filter("Nope eq 1").unwrap()[0]).is_err());
        assert!(typed(&parse_filter("TalkMs eq 'x'").unwrap()[0]).is_err());
        assert!(typed(&parse_filter("TalkMs gt null").unwrap()[0]).is_err());
        let q = parse_filter("CustomerName eq 'O''Brien'");
        assert!(q.is_ok());
    }

    #[test]
    fn query_options_decode_like_forms() {
        let q = parse_odata_query(Some(
            "$filter=StartedAt+ge%202026-03-01T00:00:00%2B09:00&$top=5&$skip=10&$select=CallId,Direction",
        ))
        .unwrap();
        assert_eq!(
            q.filter.as_deref(),
            Some("StartedAt ge 2026-03-01T00:00:00+09:00")
        );
        assert_eq!((q.top, q.skip), (Some(5), 10));
        assert_eq!(q.select.unwrap(), ["CallId", "Direction"]);
        assert!(parse_odata_query(Some("$expand=x")).is_err());
        assert!(parse_odata_query(Some("$top=-1")).is_err());
    }

    #[test]
    fn metadata_names_every_property() {
        let x = metadata_xml();
        for p in CALL_PROPS.iter().chain(DAILY_PROPS) {
            assert!(x.contains(&format!("Name=\"{}\"", p.name)));
        }
        let row_keys = call_entity(&CallRow {
            call_id: 1,
            chat_id: 1,
            direction: denwa_core::model::CallDirection::Inbound,
            medium: "phone".into(),
            customer_number: None,
            channel_number: None,
            customer_id: None,
            customer_name: None,
            assignee_id: None,
            assignee_name: None,
            team_id: None,
            team_name: None,
            staff_id: None,
            tags: vec![],
            started_at: Utc::now(),
            answered_at: None,
            ended_at: None,
            ringing_ms: None,
            talk_ms: None,
            hold_ms: 0,
            participants: vec![],
            outcome: None,
            missed_reason: None,
            first_response_ms: None,
            wrap_up_ms: None,
            recording: None,
        });
        assert_eq!(row_keys.len(), CALL_PROPS.len());
        for p in CALL_PROPS {
            assert!(row_keys.contains_key(p.name), "{}", p.name);
        }
    }

    #[test]
    fn csv_quotes_and_guards() {
        let mut s = String::new();
        csv_line(
            &mut s,
            &[
                Cell::Text("a,b".into()),
                Cell::UserText("=1+1".into()),
                Cell::Text("say \"hi\"".into()),
                Cell::Empty,
                Cell::Seconds(1500),
            ],
        );
        assert_eq!(s, "\"a,b\",'=1+1,\"say \"\"hi\"\"\",,1.5\r\n");
    }
}
