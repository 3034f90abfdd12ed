//! Money transfers between accounts, one coroutine per transfer, each in a transaction
//! with `with_transaction`: write conflicts between concurrent transfers are retried by
//! the driver, and the total across accounts never changes.
//!
//! ```sh
//! MONGODB_URI=$(scripts/test-server start --name transfer) cargo run --example transfer
//! scripts/test-server stop --name transfer
//! ```
//!
//! Options: `--accounts N` (default 1000), `--transfers N` (default 1000). Fewer accounts,
//! more conflicts: `--accounts 100` shows the retries at work.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use bson::doc;
use greenmongo::{
    Client, ClientSession, Collection,
    options::{ReadConcern, WriteConcern},
    runtime::Runtime,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Account {
    #[serde(rename = "_id")]
    id: u32,
    balance: i64,
}

/// Moves `amount` from `from` to `to` in the session's transaction; refuses to overdraw.
fn transfer(
    accounts: &Collection<Account>,
    session: &mut ClientSession,
    from: u32,
    to: u32,
    amount: i64,
) -> greenmongo::Result<bool> {
    let debited = accounts
        .update_one(
            doc! { "_id": from, "balance": { "$gte": amount } },
            doc! { "$inc": { "balance": -amount } },
        )
        .session(&mut *session)
        .run()?;
    if debited.modified_count == 0 {
        return Ok(false); // not enough money: nothing written, the commit is empty
    }
    accounts
        .update_one(doc! { "_id": to }, doc! { "$inc": { "balance": amount } })
        .session(&mut *session)
        .run()?;
    Ok(true)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut n_accounts, mut n_transfers) = (1000u32, 1000usize);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or("a flag needs a value")?;
        match flag.as_str() {
            "--accounts" => n_accounts = value.parse()?,
            "--transfers" => n_transfers = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let uri = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".to_owned());
    let client = Client::with_uri_str(&uri)?;
    let accounts = client
        .database("transfer")
        .collection::<Account>("accounts");
    accounts.drop().run()?;
    accounts
        .insert_many((0..n_accounts).map(|id| Account { id, balance: 100 }))
        .run()?;
    let total_before = n_accounts as i64 * 100;

    let runtime = Runtime::builder().worker_threads(2).build()?;
    let callbacks = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let transfers: Vec<_> = (0..n_transfers)
        .map(|i| {
            let (client, accounts, callbacks) =
                (client.clone(), accounts.clone(), callbacks.clone());
            runtime.spawn(move || -> greenmongo::Result<bool> {
                let from = (i as u32 * 7) % n_accounts;
                let to = (i as u32 * 13 + 1) % n_accounts;
                let mut session = client.start_session().run()?;
                session
                    .start_transaction()
                    .read_concern(ReadConcern::snapshot())
                    .write_concern(WriteConcern::majority())
                    .and_run(|session| {
                        callbacks.fetch_add(1, Ordering::Relaxed);
                        transfer(&accounts, session, from, to, (i % 50) as i64 + 1)
                    })
            })
        })
        .collect();
    let mut done = 0;
    for t in transfers {
        if t.join().expect("the transfer coroutine ran")? {
            done += 1;
        }
    }
    let elapsed = started.elapsed();

    let total_after: i64 = accounts
        .find(doc! {})
        .run()?
        .map(|a| a.map(|a| a.balance))
        .sum::<greenmongo::Result<i64>>()?;
    println!(
        "{done} of {n_transfers} transfers made ({} refused for lack of money) in {elapsed:.2?}; \
         {} callback runs (write conflicts retried)",
        n_transfers - done,
        callbacks.load(Ordering::Relaxed),
    );
    println!("total before {total_before}, after {total_after}");
    if total_after != total_before {
        return Err("money was created or destroyed".into());
    }
    client.shutdown().run();
    Ok(())
}
