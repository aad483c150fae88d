//! Concurrent writers never surface a database error: changes that fail validation roll
//! back and the others wait their turn (BEGIN IMMEDIATE + busy timeout).

use std::sync::Arc;

use denwa_store::{CustomerInput, NewChannel, PhoneInput, SqliteStore, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_with_failures_never_error_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("c.sqlite3"))
            .await
            .unwrap(),
    );
    let channel = store
        .create_channel(NewChannel {
            name: "C".into(),
            region: "JP".into(),
            time_zone: "Asia/Tokyo".into(),
            phone_numbers: vec![],
        })
        .await
        .unwrap()
        .id;
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
