//! Concurrent writers never surface a database error: changes that fail validation roll
//! back and the others wait their turn (BEGIN IMMEDIATE + busy timeout).

use std::sync::Arc;

use denwa_store::{CustomerInput, NewChannel, PhoneInput, SqliteStore, Store, StoreError};

/// A Japanese channel named `name`; its id.
async fn new_channel(store: &SqliteStore, name: &str) -> i64 {
    store
        .create_channel(NewChannel {
            name: name.into(),
            region: "JP".into(),
            time_zone: "Asia/Tokyo".into(),
            phone_numbers: vec![],
        })
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_with_failures_never_error_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("c.sqlite3"))
            .await
            .unwrap(),
    );
    let channel = new_channel(&store, "C").await;
    let mut tasks = Vec::new();
    for worker in 0..16u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..12u32 {
                // Every third number is invalid, every fifth repeats a number: both fail
                // after the customer row was inserted, so the transaction rolls back.
                let number = if i % 3 == 0 {
                    "12".to_owned()
                } else if i % 5 == 0 {
                    "03-1111-0000".to_owned()
                } else {
                    format!("090-1{:03}-{:04}", worker, i)
                };
                let input = CustomerInput {
                    name: Some(format!("w{worker} c{i}")),
                    phones: Some(vec![PhoneInput {
                        number,
                        mobile: None,
                    }]),
                    ..Default::default()
                };
                match store.create_customer(channel, input, None).await {
                    Ok(_) => created += 1,
                    Err(
                        StoreError::Invalid(_)
                        | StoreError::InvalidPhoneNumber(_)
                        | StoreError::Conflict(_),
                    ) => {}
                    Err(other) => panic!("worker {worker} call {i}: {other}"),
                }
            }
            created
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap();
    }
    let all = store.search_customers(channel, "", 200).await.unwrap();
    assert_eq!(
        all.len(),
        created,
        "every successful creation is stored, no failed one is"
    );
    // 16 workers × (12 − 4 invalid − 2 shared-number attempts) own numbers, plus the one
    // worker that got "03-1111-0000" first.
    assert_eq!(created, 16 * 6 + 1);
}

/// Commits don't copy the WAL into the database themselves (SQLite's automatic
/// checkpoint would, and a call's ring waited behind its disk sync): a background task
/// does, within about a second, and the WAL then starts over instead of growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_in_the_background_not_in_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3");
    let store = SqliteStore::open(&db).await.unwrap();
    let channel = new_channel(&store, "W").await;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = dir.path().join("w.sqlite3-wal");
    // Let the first checkpoints (of the migrations) pass, then commit 1500 times: each
    // commit appends its pages to the WAL, several thousand in all (SQLite's own
    // checkpoint would run inside the commit that crosses 1000).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = size(&db);
    let started = std::time::Instant::now();
    for i in 0..1500 {
        let input = CustomerInput {
            name: Some(format!("customer {i}")),
            ..Default::default()
        };
        store.create_customer(channel, input, None).await.unwrap();
    }
    let written_in = started.elapsed();
    let wal_after_writes = size(&wal);
    // ~25 KB per commit, 38 MB in all (release build, no checkpoint meanwhile); with
    // SQLite's own checkpoint in the commits the WAL stays at ~1000 pages (4 MB).
    assert!(
        wal_after_writes > 8 * 1024 * 1024,
        "commits checkpointed the WAL themselves: it is only {wal_after_writes} bytes"
    );
    // Within a few checkpoint periods the database file holds them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size(&db) < before + 256 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file did not grow: {} -> {} bytes (WAL {} bytes)",
            before,
            size(&db),
            size(&wal)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The WAL is reused from its start after a complete checkpoint: more writes don't
    // make it grow past what it already is.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for i in 0..200 {
        let input = CustomerInput {
            name: Some(format!("again {i}")),
            ..Default::default()
        };
        store.create_customer(channel, input, None).await.unwrap();
    }
    assert!(
        size(&wal) <= wal_after_writes,
        "the WAL grew from {wal_after_writes} to {} bytes after being checkpointed",
        size(&wal)
    );
    eprintln!("1500 commits in {written_in:?}");
}
