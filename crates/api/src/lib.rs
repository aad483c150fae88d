//! Denwa's HTTP surface.
//!
//! - `/api/v1`: the staff console (session tokens from a password login), see [`console`].
//! - `/open/v1`: integrations, authenticated by an API key pair, see [`open`].
//! - `/api/v1/events`: the staff WebSocket, see [`ws`].
//! - `/openapi.json`, `/metrics`, `/healthz`, and the console's static files.
//!
//! Every change is stored with its domain event by the [`Store`](denwa_store::Store)
//! and then published on the [`Bus`]; the WebSocket pushes events to the staff of the
//! event's channel only.

pub mod audio;
pub mod bus;
pub mod calls;
pub mod chats;
pub mod console;
pub mod contacts;
pub mod dial;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod open;
pub mod recordings;
pub mod search;
pub mod stats;
pub mod telephony;
pub mod ws;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use denwa_core::Event;
use denwa_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use bus::{Bus, InProcessBus};
pub use error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Event bus.
    pub bus: Arc<dyn Bus>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The SIP edge, when the server runs one.
    pub telephony: Option<Arc<dyn telephony::Telephony>>,
    /// The call engine, when the server runs telephony.
    pub calls: Option<Arc<dyn calls::CallControl>>,
    /// Staff with a console open (ringing needs it).
    pub presence: Arc<calls::Presence>,
    /// The full-text index of messages, notes and transcripts; without it the chat
    /// list's keyword matches message text with SQL `LIKE`.
    pub search: Option<Arc<denwa_search::Index>>,
    /// Where channels' announcements and hold music are kept; without it the audio
    /// routes answer 503.
    pub audio: Option<Arc<audio::ChannelAudio>>,
    /// The MP3s of recorded calls; without it the MP3 route answers 503.
    pub recordings: Option<Arc<dyn recordings::RecordingFiles>>,
}

impl AppState {
    /// State over a store with an in-process bus and fresh metrics.
    pub fn new(store: Arc<dyn Store>) -> AppState {
        AppState {
            store,
            bus: Arc::new(InProcessBus::new(4096)),
            metrics: Arc::new(metrics::Metrics::new()),
            telephony: None,
            calls: None,
            presence: Arc::default(),
            search: None,
            audio: None,
            recordings: None,
        }
    }

    /// Publishes stored events.
    pub(crate) fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.metrics.event_published();
            self.bus.publish(e);
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Denwa API",
        description = "Staff console (`/api/v1`, bearer session token) and integrations (`/open/v1`, `x-access-key` + `x-access-secret`)."
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "access_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-key"))),
        );
        components.add_security_scheme(
            "access_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-secret"))),
        );
    }
}

/// The OpenAPI document of every documented route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split_api().1
}

/// The documented routes and their document, with the errors every route shares.
fn split_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut doc) = api_router().split_for_parts();
    document_shared_errors(&mut doc);
    (api, doc)
}

/// Adds the answers the extractors give on any route, where a route's own list lacks
/// them: 401 where a credential is required, 403 where a staff session names a channel
/// (not a member, or not a manager), 404 where the path names an item, 400 where the
/// route takes parameters or a body (a value that does not parse), 415 and 413 where it
/// takes a JSON body.
fn document_shared_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let names_channel = path.starts_with("/api/v1/channels/{cid}");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let names_item = op.parameters.as_ref().is_some_and(|p| {
                p.iter()
                    .any(|p| p.parameter_in == ParameterIn::Path && p.name != "cid")
            });
            let takes_values =
                op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
            let takes_json = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            let answers = &mut op.responses.responses;
            let mut add = |status: &str, description: &str| {
                answers
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description));
            };
            if secured {
                add("401", "no valid credential");
            }
            if secured && names_channel {
                add("403", "not a member of the channel, or not allowed this");
            }
            if names_item {
                add("404", "no such item in the channel");
            }
            if takes_values {
                add("400", "a parameter or the body does not parse");
            }
            if takes_json {
                add("413", "the body is too large");
                add("415", "the body is not JSON");
            }
        }
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(console::router())
        .merge(calls::router())
        .merge(dial::router())
        .merge(audio::router())
        .merge(contacts::router())
        .merge(recordings::router())
        .merge(open::router())
        .merge(stats::router())
}

/// The whole HTTP application. `web_dir` is the built console (`web/dist`), served for
/// every path that is not an API path.
pub fn app(state: AppState, web_dir: Option<PathBuf>) -> Router {
    let (api, doc) = split_api();
    let doc = Arc::new(doc);
    let mut router = Router::new()
        .merge(api)
        .route("/api/v1/events", get(ws::events))
        .merge(stats::odata_router())
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .route("/open/{*rest}", axum::routing::any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed);
    if let Some(dir) = web_dir {
        let index = dir.join("index.html");
        router = router.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)));
    } else {
        router = router.fallback(api_not_found);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server hit a bug; it was logged",
            )
            .into_response()
        }))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}
