//! The driver with no runtime at all: plain OS threads, where every wait blocks the
//! thread. The same calls as inside coroutines; nothing to configure.
//!
//! ```sh
//! MONGODB_URI=$(scripts/test-server start --name threads) cargo run --example threads
//! scripts/test-server stop --name threads
//! ```

use std::{thread, time::Instant};

use bson::{Document, doc};
use greenmongo::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".to_owned());
    let client = Client::with_uri_str(&uri)?;
    let counters = client
        .database("threads_example")
        .collection::<Document>("counters");
    counters.drop().run()?;

    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let counters = counters.clone();
            thread::spawn(move || -> greenmongo::Result<()> {
                for i in 0..50 {
                    counters.insert_one(doc! { "thread": t, "i": i }).run()?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("the thread ran")?;
    }
    let n = counters.count_documents(doc! {}).run()?;
    println!(
        "8 threads inserted {n} documents in {:.2?}",
        started.elapsed()
    );
    assert_eq!(n, 400);
    client.database("threads_example").drop().run()?;
    Ok(())
}
