//! Change streams on the coroutine runtime: a coroutine per watcher prints the changes
//! it sees while other coroutines write, and everything ends by itself once each watcher
//! has seen its share of events (so it can run in CI).
//!
//! ```sh
//! MONGODB_URI=$(scripts/test-server start --name listener) cargo run --example change_listener
//! scripts/test-server stop --name listener
//! ```
//!
//! Optional: `WATCHERS` (default 4), `WRITERS` (default 3), `WRITES` per writer (default 10).

use std::time::Duration;

use bson::{Document, doc};
use greenmongo::{
    Client,
    change_stream::event::OperationType,
    options::FullDocumentType,
    runtime::{Runtime, coroutine, sync::WaitGroup, time::sleep},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    sensor: u32,
    n: u32,
    celsius: f64,
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".to_owned());
    let (watchers, writers, writes) = (
        env_or("WATCHERS", 4),
        env_or("WRITERS", 3),
        env_or("WRITES", 10),
    );
    let client = Client::with_uri_str(&uri)?;
    let readings = client
        .database("change_listener")
        .collection::<Reading>("readings");
    readings.drop().run()?;

    let rt = Runtime::builder().worker_threads(2).build()?;
    // Each writer inserts `writes` readings and then updates the first one: every
    // watcher expects that many events.
    let expected = writers * (writes + 1);
    rt.block_on(move || -> greenmongo::Result<()> {
        // The watchers open their streams before anything is written.
        let ready = WaitGroup::new();
        ready.add(watchers as usize);
        let listeners: Vec<_> = (0..watchers)
            .map(|w| {
                let (readings, ready) = (readings.clone(), ready.clone());
                coroutine::spawn(move || -> greenmongo::Result<u32> {
                    let stream = readings
                        .watch()
                        .full_document(FullDocumentType::UpdateLookup)
                        .max_await_time(Duration::from_millis(500))
                        .run();
                    ready.done();
                    let stream = stream?;
                    let mut seen = 0;
                    // `take` ends the loop; a real listener would run until dropped.
                    for event in stream.take(expected as usize) {
                        let event = event?;
                        let reading = event.full_document.as_ref();
                        match event.operation_type {
                            OperationType::Insert | OperationType::Update => println!(
                                "watcher {w}: {:?} sensor {} #{} = {:.1} °C",
                                event.operation_type,
                                reading.map_or(0, |r| r.sensor),
                                reading.map_or(0, |r| r.n),
                                reading.map_or(0.0, |r| r.celsius),
                            ),
                            other => println!("watcher {w}: {other:?}"),
                        }
                        seen += 1;
                    }
                    Ok(seen)
                })
            })
            .collect();
        ready.wait()?;

        let producers: Vec<_> = (0..writers)
            .map(|sensor| {
                let readings = readings.clone();
                coroutine::spawn(move || -> greenmongo::Result<()> {
                    for n in 0..writes {
                        let celsius = 20.0 + f64::from(sensor) + f64::from(n) / 10.0;
                        readings.insert_one(Reading { sensor, n, celsius }).run()?;
                        let _ = sleep(Duration::from_millis(20));
                    }
                    let update = doc! { "$inc": { "celsius": 0.5 } };
                    readings
                        .update_one(doc! { "sensor": sensor, "n": 0 }, update)
                        .run()?;
                    Ok(())
                })
            })
            .collect();
        for producer in producers {
            producer.join().expect("writer panicked")?;
        }
        for (w, listener) in listeners.into_iter().enumerate() {
            let seen = listener.join().expect("watcher panicked")?;
            println!("watcher {w} saw {seen} events");
            assert_eq!(seen, expected);
        }
        Ok(())
    })?;
    let summary: Vec<Document> = client
        .database("change_listener")
        .collection::<Document>("readings")
        .aggregate([doc! { "$count": "readings" }])
        .run()?
        .collect::<greenmongo::Result<_>>()?;
    println!("done: {summary:?}");
    Ok(())
}
