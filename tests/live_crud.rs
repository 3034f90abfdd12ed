//! The everyday API against the real test server.

mod util {
    pub mod server;
}

use bson::{Bson, Document, doc};
use greenmongo::{
    Collection, ErrorKind,
    options::{
        FindOneAndUpdateOptions, FindOptions, IndexModel, IndexOptions, InsertManyOptions,
        ReturnDocument, UpdateOptions,
    },
    runtime::{Runtime, coroutine},
};
use serde::{Deserialize, Serialize};
use util::server;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    sku: String,
    qty: i32,
    price: f64,
}

fn collection<T>(prefix: &str) -> Option<(greenmongo::Database, Collection<T>)> {
    let client = server::client()?;
    let db = client.database(&server::unique(prefix));
    let coll = db.collection::<T>("items");
    Some((db, coll))
}

#[test]
fn typed_insert_find_update_delete_round_trip() {
    let Some((db, items)) = collection::<Item>("crud_typed") else {
        return;
    };
    let apple = Item {
        sku: "apple".into(),
        qty: 3,
        price: 0.5,
    };
    let id = items.insert_one(&apple).run().unwrap().inserted_id;
    assert!(matches!(id, Bson::ObjectId(_)), "a generated _id: {id}");
    assert_eq!(
        items.find_one(doc! { "_id": id.clone() }).run().unwrap(),
        Some(apple.clone())
    );

    let r = items
        .update_one(doc! { "sku": "apple" }, doc! { "$inc": { "qty": 2 } })
        .run()
        .unwrap();
    assert_eq!(
        (r.matched_count, r.modified_count, r.upserted_id),
        (1, 1, None)
    );
    assert_eq!(
        items
            .find_one(doc! { "sku": "apple" })
            .run()
            .unwrap()
            .unwrap()
            .qty,
        5
    );

    let upsert = UpdateOptions {
        upsert: Some(true),
        ..Default::default()
    };
    let r = items
        .update_one(
            doc! { "sku": "kiwi" },
            doc! { "$set": { "qty": 1, "price": 0.2 } },
        )
        .with_options(upsert)
        .run()
        .unwrap();
    assert!(r.upserted_id.is_some());

    let r = items
        .replace_one(
            doc! { "sku": "kiwi" },
            Item {
                sku: "kiwi".into(),
                qty: 9,
                price: 0.3,
            },
        )
        .run()
        .unwrap();
    assert_eq!(r.modified_count, 1);
    let err = items
        .update_one(doc! {}, doc! { "qty": 1 })
        .run()
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );

    assert_eq!(items.count_documents(doc! {}).run().unwrap(), 2);
    assert_eq!(items.estimated_document_count().run().unwrap(), 2);
    let r = items.delete_one(doc! { "sku": "kiwi" }).run().unwrap();
    assert_eq!(r.deleted_count, 1);
    assert_eq!(items.delete_many(doc! {}).run().unwrap().deleted_count, 1);
    assert_eq!(items.find_one(doc! {}).run().unwrap(), None);
    db.drop().run().unwrap();
}

#[test]
fn insert_many_batches_and_a_cursor_fetches_lazily_and_is_killed_on_drop() {
    let Some((db, items)) = collection::<Document>("crud_cursor") else {
        return;
    };
    let r = items
        .insert_many((0..2500).map(|i| doc! { "n": i }))
        .run()
        .unwrap();
    assert_eq!(r.inserted_ids.len(), 2500);

    // Sorted, in batches of 100: 25 getMores, every document once, in order.
    let options = FindOptions {
        sort: Some(doc! { "n": 1 }),
        batch_size: Some(100),
        ..Default::default()
    };
    let ns: Vec<i32> = items
        .find(doc! {})
        .with_options(options)
        .run()
        .unwrap()
        .map(|d| d.unwrap().get_i32("n").unwrap())
        .collect();
    assert_eq!(ns, (0..2500).collect::<Vec<_>>());

    let limited = FindOptions {
        limit: Some(7),
        batch_size: Some(3),
        ..Default::default()
    };
    assert_eq!(
        items
            .find(doc! {})
            .with_options(limited)
            .run()
            .unwrap()
            .count(),
        7
    );

    // An unexhausted cursor is killed when dropped: its id is gone on the server.
    let small = FindOptions {
        batch_size: Some(10),
        ..Default::default()
    };
    let mut cursor = items.find(doc! {}).with_options(small).run().unwrap();
    cursor.next().unwrap().unwrap();
    let id = cursor.id();
    assert_ne!(id, 0);
    drop(cursor);
    let err = db
        .run_command(doc! { "getMore": id, "collection": "items" })
        .run()
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(43),
        "CursorNotFound after killCursors: {err}"
    );
    db.drop().run().unwrap();
}

#[test]
fn write_errors_carry_the_servers_code_and_what_was_inserted() {
    let Some((db, items)) = collection::<Document>("crud_errors") else {
        return;
    };
    items.insert_one(doc! { "_id": 1 }).run().unwrap();
    let err = items.insert_one(doc! { "_id": 1 }).run().unwrap_err();
    assert_eq!(err.code(), Some(11000), "{err}");
    assert!(matches!(*err.kind, ErrorKind::Write(_)));

    // Unordered: everything but the duplicate goes in.
    let unordered = InsertManyOptions {
        ordered: Some(false),
        ..Default::default()
    };
    let err = items
        .insert_many([doc! { "_id": 2 }, doc! { "_id": 1 }, doc! { "_id": 3 }])
        .with_options(unordered)
        .run()
        .unwrap_err();
    let ErrorKind::InsertMany(e) = &*err.kind else {
        panic!("{err:?}")
    };
    assert_eq!(e.write_errors.len(), 1);
    assert_eq!(e.write_errors[0].index, 1);
    assert_eq!(e.write_errors[0].code, 11000);
    let mut inserted: Vec<usize> = e.inserted_ids.keys().copied().collect();
    inserted.sort_unstable();
    assert_eq!(inserted, [0, 2]);
    // Ordered: stops at the duplicate.
    let err = items
        .insert_many([doc! { "_id": 4 }, doc! { "_id": 1 }, doc! { "_id": 5 }])
        .run()
        .unwrap_err();
    let ErrorKind::InsertMany(e) = &*err.kind else {
        panic!("{err:?}")
    };
    assert_eq!(e.inserted_ids.keys().copied().collect::<Vec<_>>(), [0]);
    assert_eq!(items.count_documents(doc! {}).run().unwrap(), 4);
    db.drop().run().unwrap();
}

#[test]
fn aggregate_distinct_find_and_modify_and_indexes() {
    let Some((db, items)) = collection::<Document>("crud_more") else {
        return;
    };
    items
        .insert_many([
            doc! { "sku": "a", "qty": 1 },
            doc! { "sku": "b", "qty": 2 },
            doc! { "sku": "a", "qty": 3 },
        ])
        .run()
        .unwrap();
    let totals: Vec<Document> = items
        .aggregate([
            doc! { "$group": { "_id": "$sku", "n": { "$sum": "$qty" } } },
            doc! { "$sort": { "_id": 1 } },
        ])
        .run()
        .unwrap()
        .collect::<greenmongo::Result<_>>()
        .unwrap();
    assert_eq!(
        totals,
        [doc! { "_id": "a", "n": 4 }, doc! { "_id": "b", "n": 2 }]
    );
    items
        .aggregate([doc! { "$match": { "sku": "a" } }, doc! { "$out": "only_a" }])
        .run()
        .unwrap()
        .for_each(drop);
    assert_eq!(
        db.collection::<Document>("only_a")
            .count_documents(doc! {})
            .run()
            .unwrap(),
        2
    );

    let mut skus = items.distinct("sku", doc! {}).run().unwrap();
    skus.sort_by_key(|b| b.to_string());
    assert_eq!(skus, [Bson::from("a"), Bson::from("b")]);

    let after = FindOneAndUpdateOptions {
        return_document: Some(ReturnDocument::After),
        ..Default::default()
    };
    let updated = items
        .find_one_and_update(doc! { "sku": "b" }, doc! { "$inc": { "qty": 10 } })
        .with_options(after)
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(updated.get_i32("qty").unwrap(), 12);
    let before = items
        .find_one_and_replace(doc! { "sku": "b" }, doc! { "sku": "b", "qty": 0 })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(before.get_i32("qty").unwrap(), 12);
    let deleted = items
        .find_one_and_delete(doc! { "sku": "b" })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(deleted.get_i32("qty").unwrap(), 0);
    assert_eq!(
        items
            .find_one_and_delete(doc! { "sku": "zzz" })
            .run()
            .unwrap(),
        None
    );

    let name = items
        .create_index(
            IndexModel::builder()
                .keys(doc! { "sku": 1, "qty": -1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .run()
        .unwrap()
        .index_name;
    assert_eq!(name, "sku_1_qty_-1");
    assert!(items.list_index_names().run().unwrap().contains(&name));
    items.drop_index(&name).run().unwrap();
    assert_eq!(items.list_index_names().run().unwrap(), ["_id_"]);

    let mut names = db.list_collection_names().run().unwrap();
    names.sort();
    assert_eq!(names, ["items", "only_a"]);
    db.collection::<Document>("only_a")
        .rename("renamed")
        .run()
        .unwrap();
    let mut names = db.list_collection_names().run().unwrap();
    names.sort();
    assert_eq!(names, ["items", "renamed"]);
    items.drop().run().unwrap();
    items.drop().run().unwrap(); // dropping twice is fine
    db.drop().run().unwrap();
}

#[test]
fn many_coroutines_share_a_collection() {
    let Some((db, items)) = collection::<Document>("crud_coroutines") else {
        return;
    };
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let coll = items.clone();
    let found: usize = rt.block_on(move || {
        let hs: Vec<_> = (0..500)
            .map(|i| {
                let coll = coll.clone();
                coroutine::spawn(move || {
                    coll.insert_one(doc! { "_id": i, "even": i % 2 == 0 })
                        .run()
                        .unwrap();
                    coll.find_one(doc! { "_id": i }).run().unwrap().is_some() as usize
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(found, 500);
    assert_eq!(
        items.count_documents(doc! { "even": true }).run().unwrap(),
        250
    );
    db.drop().run().unwrap();
}

#[test]
fn bulk_write_groups_mixed_writes_and_reports_partial_results() {
    use greenmongo::options::{CollectionWriteModel, WriteModelOptions};
    let Some((db, items)) = collection::<Document>("crud_bulk") else {
        return;
    };
    let none = WriteModelOptions::default;
    let result = items
        .bulk_write([
            CollectionWriteModel::InsertOne {
                document: doc! { "_id": 1, "qty": 1 },
            },
            CollectionWriteModel::InsertOne {
                document: doc! { "qty": 2 },
            },
            CollectionWriteModel::UpdateOne {
                filter: doc! { "_id": 1 },
                update: doc! { "$inc": { "qty": 10 } }.into(),
                options: none(),
            },
            CollectionWriteModel::UpdateMany {
                filter: doc! { "_id": 99 },
                update: doc! { "$set": { "qty": 0 } }.into(),
                options: WriteModelOptions {
                    upsert: Some(true),
                    ..Default::default()
                },
            },
            CollectionWriteModel::ReplaceOne {
                filter: doc! { "_id": 1 },
                replacement: doc! { "qty": 5 },
                options: none(),
            },
            CollectionWriteModel::DeleteOne {
                filter: doc! { "qty": 2 },
                options: none(),
            },
        ])
        .run()
        .unwrap();
    assert_eq!(
        (
            result.inserted_count,
            result.matched_count,
            result.modified_count
        ),
        (2, 2, 2)
    );
    assert_eq!((result.upserted_count, result.deleted_count), (1, 1));
    assert_eq!(result.upserted_ids.get(&3), Some(&Bson::Int32(99)));
    assert_eq!(result.inserted_ids.len(), 2);
    assert_eq!(
        items
            .find_one(doc! { "_id": 1 })
            .run()
            .unwrap()
            .unwrap()
            .get_i32("qty")
            .unwrap(),
        5
    );

    // Ordered: stops at the duplicate; the partial result says what was done.
    let err = items
        .bulk_write([
            CollectionWriteModel::InsertOne {
                document: doc! { "_id": 2 },
            },
            CollectionWriteModel::InsertOne {
                document: doc! { "_id": 1 },
            },
            CollectionWriteModel::DeleteMany {
                filter: doc! {},
                options: none(),
            },
        ])
        .run()
        .unwrap_err();
    let ErrorKind::CollectionBulkWrite(failure) = &*err.kind else {
        panic!("{err:?}")
    };
    assert_eq!(failure.write_errors[0].index, 1);
    assert_eq!(failure.write_errors[0].code, 11000);
    assert_eq!(failure.partial_result.inserted_count, 1);
    assert_eq!(
        failure.partial_result.deleted_count, 0,
        "ordered: the delete never ran"
    );
    db.drop().run().unwrap();
}

#[test]
fn client_bulk_write_spans_collections() {
    use greenmongo::options::{DeleteManyModel, InsertOneModel, UpdateOneModel, WriteModel};
    let Some(client) = server::client() else {
        return;
    };
    let db = client.database(&server::unique("crud_client_bulk"));
    let (a, b) = (
        greenmongo::Namespace::new(db.name(), "a"),
        greenmongo::Namespace::new(db.name(), "b"),
    );
    let insert = |ns: &greenmongo::Namespace, document| -> WriteModel {
        InsertOneModel::builder()
            .namespace(ns.clone())
            .document(document)
            .build()
            .into()
    };
    let result = client
        .bulk_write([
            insert(&a, doc! { "_id": 1, "x": 1 }),
            insert(&b, doc! { "_id": 1, "y": 1 }),
            UpdateOneModel::builder()
                .namespace(a.clone())
                .filter(doc! { "_id": 1 })
                .update(doc! { "$inc": { "x": 1 } })
                .build()
                .into(),
            DeleteManyModel::builder()
                .namespace(b.clone())
                .filter(doc! {})
                .build()
                .into(),
        ])
        .verbose_results()
        .run()
        .unwrap();
    assert_eq!(
        (
            result.summary.inserted_count,
            result.summary.modified_count,
            result.summary.deleted_count
        ),
        (2, 1, 1)
    );
    assert_eq!(result.insert_results[&1].inserted_id, Bson::Int32(1));
    assert_eq!(result.update_results[&2].modified_count, 1);
    assert_eq!(result.delete_results[&3].deleted_count, 1);
    let err = client
        .bulk_write([insert(&a, doc! { "_id": 1 })])
        .run()
        .unwrap_err();
    let ErrorKind::BulkWrite(failure) = &*err.kind else {
        panic!("{err:?}")
    };
    assert_eq!(failure.write_errors[&0].code, 11000);
    db.drop().run().unwrap();
}

#[test]
fn a_tailable_cursor_returns_documents_inserted_after_it_opened() {
    use greenmongo::options::CursorType;
    let Some(client) = server::client() else {
        return;
    };
    let db = client.database(&server::unique("crud_tailable"));
    db.create_collection("log")
        .capped(true)
        .size(100_000)
        .run()
        .unwrap();
    let log = db.collection::<Document>("log");
    log.insert_one(doc! { "n": 0 }).run().unwrap();
    let tailable = FindOptions::builder()
        .cursor_type(CursorType::Tailable)
        .build();
    let mut cursor = log.find(doc! {}).with_options(tailable).run().unwrap();
    assert_eq!(cursor.next().unwrap().unwrap().get_i32("n").unwrap(), 0);
    assert!(cursor.next().is_none(), "nothing new yet");
    assert!(cursor.is_alive(), "a tailable cursor stays open at the end");
    log.insert_one(doc! { "n": 1 }).run().unwrap();
    assert_eq!(cursor.next().unwrap().unwrap().get_i32("n").unwrap(), 1);
    drop(cursor);
    db.drop().run().unwrap();
}
