//! Extractors that answer bad input with the API's JSON errors, and authentication.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use denwa_core::model::{ChannelId, Role, Staff};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; malformed JSON, unknown fields, a wrong content type and oversized bodies
/// are answered with [`ApiError`]s (400, 400, 415, 413).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

/// Path parameters; a malformed id is a 400.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    axum::extract::Path<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(v))
    }
}

/// Query parameters; a malformed or unknown parameter is a 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

/// The signed-in staff member (header `Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// Who.
    pub staff: Staff,
    /// The bearer token used.
    pub token: String,
}

impl<S> FromRequestParts<S> for StaffSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(ApiError::unauthorized)?
            .to_owned();
        let staff = state
            .store
            .session_staff(&token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(StaffSession { staff, token })
    }
}

impl StaffSession {
    /// The staff member's role in `channel`; 403 when not a member.
    pub async fn member_of(&self, state: &AppState, channel: ChannelId) -> Result<Role, ApiError> {
        state
            .store
            .membership(channel, self.staff.id)
            .await?
            .map(|(role, _)| role)
            .ok_or_else(|| ApiError::forbidden("you are not a member of this channel"))
    }

    /// Like [`member_of`](Self::member_of), and the role must manage the channel.
    pub async fn manager_of(&self, state: &AppState, channel: ChannelId) -> Result<(), ApiError> {
        if self.member_of(state, channel).await?.can_manage() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only an owner or manager of the channel may do this",
            ))
        }
    }
}

/// An integration's channel, from the `x-access-key` and `x-access-secret` headers.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyChannel(pub ChannelId);

impl<S> FromRequestParts<S> for ApiKeyChannel
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 256)
                .map(str::to_owned)
        };
        let (Some(key), Some(secret)) = (header("x-access-key"), header("x-access-secret")) else {
            return Err(ApiError::unauthorized());
        };
        state
            .store
            .verify_api_key(&key, &secret)
            .await?
            .map(ApiKeyChannel)
            .ok_or_else(ApiError::unauthorized)
    }
}
