//! A real server (real SQLite store in a temp dir, real TCP listener) for API tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use denwa_api::AppState;
use denwa_core::model::{Medium, Role};
use denwa_store::{CustomerInput, NewChannel, NewChat, PhoneInput, SqliteStore, Store};
use serde_json::{Value, json};

pub const PASSWORD: &str = "test-password-1";

pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub app: axum::Router,
    _dir: tempfile::TempDir,
}

/// One channel with two staff, a customer, a text chat and a phone chat.
pub struct Tenant {
    pub channel: i64,
    pub owner_token: String,
    pub operator_token: String,
    pub owner: i64,
    pub operator: i64,
    pub customer: i64,
    pub text_chat: i64,
    pub phone_chat: i64,
    pub team: i64,
}

pub async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("t.sqlite3"))
            .await
            .unwrap(),
    );
    let mut state = AppState::new(store.clone());
    state.audio = Some(Arc::new(denwa_api::audio::ChannelAudio::new(
        dir.path().join("channels"),
    )));
    let app = denwa_api::app(state, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    Server {
        addr,
        store,
        app,
        _dir: dir,
    }
}

/// [`start`] with a search index in the temp dir, fed from the bus (the Japanese
/// dictionary is built once into the target folder; needs Debian's mecab-ipadic).
pub async fn start_with_search() -> (Server, Arc<denwa_search::Index>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("t.sqlite3"))
            .await
            .unwrap(),
    );
    let config = denwa_search::Config {
        dictionary_cache: Some(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("denwa-search-dictionary"),
        ),
        ..Default::default()
    };
    let search_dir = dir.path().join("search");
    let index =
        tokio::task::spawn_blocking(move || denwa_search::Index::open_with(&search_dir, config))
            .await
            .unwrap()
            .unwrap();
    assert!(index.has_dictionary(), "mecab-ipadic is installed");
    let index = Arc::new(index);
    let mut state = AppState::new(store.clone());
    state.search = Some(index.clone());
    denwa_api::search::spawn_indexer(index.clone(), state.bus.subscribe());
    let app = denwa_api::app(state, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    (
        Server {
            addr,
            store,
            app,
            _dir: dir,
        },
        index,
    )
}

impl Server {
    pub async fn tenant(&self, tag: &str, number: &str) -> Tenant {
        let s = &self.store;
        let channel = s
            .create_channel(NewChannel {
                name: format!("Channel {tag}"),
                region: "JP".into(),
                time_zone: "Asia/Tokyo".into(),
                phone_numbers: vec![number.into()],
            })
            .await
            .unwrap()
            .id;
        let owner = s
            .create_staff(&format!("owner-{tag}@example.com"), "Owner", PASSWORD)
            .await
            .unwrap()
            .id;
        let operator = s
            .create_staff(&format!("op-{tag}@example.com"), "Operator", PASSWORD)
            .await
            .unwrap()
            .id;
        s.add_member(channel, owner, Role::Owner, true)
            .await
            .unwrap();
        s.add_member(channel, operator, Role::Operator, false)
            .await
            .unwrap();
        let (team, _) = s
            .create_team(channel, "Support", &[operator], None)
            .await
            .unwrap();
        let (customer, _) = s
            .create_customer(
                channel,
                CustomerInput {
                    name: Some(format!("Customer {tag}")),
                    phones: Some(vec![PhoneInput {
                        number: "03-1234-5678".into(),
                        mobile: None,
                    }]),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        let new_chat = |medium| NewChat {
            customer_id: customer.id,
            medium,
            source: if medium == Medium::Phone {
                "phone"
            } else {
                "web"
            }
            .into(),
            first_message: Some(format!("hello from {tag}")),
        };
        let (text_chat, _) = s
            .create_chat(channel, new_chat(Medium::Chat), None)
            .await
            .unwrap();
        let (phone_chat, _) = s
            .create_chat(channel, new_chat(Medium::Phone), None)
            .await
            .unwrap();
        Tenant {
            channel,
            owner_token: self.login(&format!("owner-{tag}@example.com")).await,
            operator_token: self.login(&format!("op-{tag}@example.com")).await,
            owner,
            operator,
            customer: customer.id,
            text_chat: text_chat.id,
            phone_chat: phone_chat.id,
            team: team.id,
        }
    }

    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// A JSON call with an optional bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut headers = vec![];
        if let Some(t) = token {
            headers.push(("authorization".to_owned(), format!("Bearer {t}")));
        }
        let body = body.map(|b| b.to_string());
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        self.raw(method, path, &headers, body.as_deref().map(str::as_bytes))
            .await
    }

    /// Any request; the answer's body parsed as JSON (or a JSON string of its text).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(axum::body::Body::from(body.unwrap_or_default().to_vec()))
            .unwrap();
        let res = tower::ServiceExt::oneshot(self.app.clone(), req)
            .await
            .unwrap();
        let status = res.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }
}
