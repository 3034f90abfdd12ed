//! The README's quick start as a program: connect, insert, find, iterate, update — from a
//! plain thread and from coroutines, with the same driver calls.
//!
//! ```sh
//! MONGODB_URI=$(scripts/test-server start --name quickstart) cargo run --example quickstart
//! scripts/test-server stop --name quickstart
//! ```

use bson::doc;
use greenmongo::{
    Client,
    runtime::{Runtime, coroutine},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Item {
    sku: String,
    qty: i32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".to_owned());
    let client = Client::with_uri_str(&uri)?;
    let items = client.database("quickstart").collection::<Item>("items");
    items.drop().run()?;

    // On this plain thread every call simply blocks.
    items
        .insert_one(Item {
            sku: "apple".into(),
            qty: 3,
        })
        .run()?;

    // Inside coroutines the same calls park the coroutine while the socket waits.
    let rt = Runtime::builder().worker_threads(2).build()?;
    let coroutines = items.clone();
    rt.block_on(move || -> greenmongo::Result<()> {
        let updates: Vec<_> = (0..100)
            .map(|_| {
                let items = coroutines.clone();
                coroutine::spawn(move || {
                    items
                        .update_one(doc! { "sku": "apple" }, doc! { "$inc": { "qty": 1 } })
                        .run()
                })
            })
            .collect();
        for update in updates {
            update.join().expect("the coroutine ran")?;
        }
        Ok(())
    })?;

    for item in items.find(doc! {}).run()? {
        let item = item?;
        println!("{} x{}", item.sku, item.qty);
    }
    let apple = items
        .find_one(doc! { "sku": "apple" })
        .run()?
        .expect("inserted above");
    assert_eq!(apple.qty, 103);
    client.database("quickstart").drop().run()?;
    Ok(())
}
