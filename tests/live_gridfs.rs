//! GridFS against the real test server: a 50 MiB round trip checked by SHA-256, 100
//! coroutines uploading at once, corrupt and missing chunks named in the error, aborted
//! and dropped uploads leaving nothing behind, revisions, rename, delete, find, drop and
//! seeking. Each test uses a database of its own.

mod util {
    pub mod server;
}

use std::{
    io::{self, BufRead, Read, Seek, SeekFrom, Write},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bson::{Binary, Bson, Document, RawDocumentBuf, doc, spec::BinarySubtype};
use greenmongo::{
    Client, ClientOptions, Database, Error, ErrorKind,
    event::{CommandEvent, EventHandler},
    gridfs::{GridFsBucket, GridFsBucketOptions, GridFsErrorKind, GridFsFileIdentifier},
    runtime::{Runtime, coroutine},
};
use sha2::{Digest, Sha256};
use util::server;

fn database(prefix: &str) -> Option<Database> {
    let client = server::client()?;
    Some(client.database(&server::unique(prefix)))
}

/// Byte `i` of test file `seed`: cheap to compute anywhere in the file, so a reader at
/// any offset can be checked without keeping the file.
fn byte_at(seed: u64, i: u64) -> u8 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i / 8);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z.to_le_bytes()[(i % 8) as usize]
}

fn content(seed: u64, range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(|i| byte_at(seed, i)).collect()
}

/// The driver's error inside an `io::Error` from a stream.
fn driver_error(e: &io::Error) -> &Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("no driver error inside {e:?}"))
}

fn gridfs_kind(e: &Error) -> &GridFsErrorKind {
    match &*e.kind {
        ErrorKind::GridFs(kind) => kind,
        other => panic!("expected a GridFS error, got {other:?}"),
    }
}

fn chunk_count(db: &Database, bucket: &str, id: &Bson) -> u64 {
    db.collection::<Document>(&format!("{bucket}.chunks"))
        .count_documents(doc! { "files_id": id.clone() })
        .run()
        .unwrap()
}

fn upload(bucket: &GridFsBucket, name: &str, bytes: &[u8]) -> Bson {
    let mut stream = bucket.open_upload_stream(name).run().unwrap();
    stream.write_all(bytes).unwrap();
    stream.close().unwrap();
    stream.id().clone()
}

fn download(bucket: &GridFsBucket, id: &Bson) -> Vec<u8> {
    let mut bytes = Vec::new();
    bucket
        .open_download_stream(id.clone())
        .run()
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

#[test]
fn fifty_mib_round_trip_matches_its_checksum() {
    let Some(db) = database("gridfs_big") else {
        return;
    };
    const LENGTH: u64 = 50 << 20;
    let bucket = db.gridfs_bucket(None);
    let started = Instant::now();

    // Written in odd-sized pieces, so pieces straddle chunk boundaries.
    let mut upload = bucket.open_upload_stream("big.bin").run().unwrap();
    let mut sent = Sha256::new();
    let mut offset = 0;
    while offset < LENGTH {
        let end = (offset + 1_000_003).min(LENGTH);
        let piece = content(1, offset..end);
        sent.update(&piece);
        upload.write_all(&piece).unwrap();
        offset = end;
    }
    upload.close().unwrap();
    let id = upload.id().clone();
    let uploaded = started.elapsed();

    let file = bucket
        .find_one(doc! { "_id": id.clone() })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!((file.length, file.chunk_size_bytes), (LENGTH, 255 * 1024));
    assert_eq!(file.filename.as_deref(), Some("big.bin"));
    assert_eq!(chunk_count(&db, "fs", &id), LENGTH.div_ceil(255 * 1024));

    let mut stream = bucket.open_download_stream(id.clone()).run().unwrap();
    let mut received = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        received.update(&buf[..n]);
        total += n as u64;
    }
    assert_eq!(total, LENGTH);
    assert_eq!(
        received.finalize(),
        sent.finalize(),
        "SHA-256 of the download"
    );
    println!(
        "50 MiB: upload {:?}, download {:?}",
        uploaded,
        started.elapsed() - uploaded
    );
    db.drop().run().unwrap();
}

#[test]
fn upload_from_reader_and_download_to_writer_round_trip() {
    let Some(db) = database("gridfs_reader") else {
        return;
    };
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(100_000)
            .build(),
    );
    let bytes = content(2, 0..1_234_567);
    // A reader that hands out a few bytes at a time: chunks are still full.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7_777);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let id = bucket
        .upload_from_reader("trickle.bin", Trickle(&bytes))
        .metadata(doc! { "source": "reader" })
        .run()
        .unwrap();
    let file = bucket
        .find_one(doc! { "_id": id.clone() })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(file.metadata, Some(doc! { "source": "reader" }));
    assert_eq!(chunk_count(&db, "fs", &id), 13);
    let mut out = Vec::new();
    let written = bucket
        .download_to_writer(id.clone(), &mut out)
        .run()
        .unwrap();
    assert_eq!(written, bytes.len() as u64);
    assert!(
        out == bytes,
        "download_to_writer returns the bytes uploaded"
    );

    // A reader that fails: the chunks already sent are deleted, no file appears.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let err = bucket
        .upload_from_reader("failing.bin", Failing(250_000))
        .id(Bson::from("failing"))
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert_eq!(chunk_count(&db, "fs", &Bson::from("failing")), 0);
    assert!(
        bucket
            .find_one(doc! { "_id": "failing" })
            .run()
            .unwrap()
            .is_none()
    );

    // An empty source: a file of length 0, no chunks, and it reads back empty.
    let empty = bucket
        .upload_from_reader("empty", io::empty())
        .run()
        .unwrap();
    assert_eq!(chunk_count(&db, "fs", &empty), 0);
    assert_eq!(download(&bucket, &empty), b"");
    db.drop().run().unwrap();
}

#[test]
fn a_hundred_coroutines_upload_at_once() {
    let Some(db) = database("gridfs_coroutines") else {
        return;
    };
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(4096)
            .build(),
    );
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let uploader = bucket.clone();
    let ids: Vec<(u64, Bson)> = rt.block_on(move || {
        let workers: Vec<_> = (0..100u64)
            .map(|i| {
                let bucket = uploader.clone();
                coroutine::spawn(move || {
                    let mut stream = bucket.open_upload_stream(format!("file-{i}")).run()?;
                    // Written in two parts, with other coroutines running in between.
                    let bytes = content(100 + i, 0..10_000 + i * 37);
                    stream.write_all(&bytes[..5000])?;
                    coroutine::yield_now();
                    stream.write_all(&bytes[5000..])?;
                    stream.close()?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((i, stream.id().clone()))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 100);
    // Every file reads back whole (100 downloads at once, on the runtime too).
    let reader = bucket.clone();
    rt.block_on(move || {
        let readers: Vec<_> = ids
            .into_iter()
            .map(|(i, id)| {
                let bucket = reader.clone();
                coroutine::spawn(move || {
                    assert_eq!(
                        download(&bucket, &id),
                        content(100 + i, 0..10_000 + i * 37),
                        "file {i}"
                    );
                })
            })
            .collect();
        readers.into_iter().for_each(|r| r.join().unwrap());
    });
    assert_eq!(bucket.find(doc! {}).run().unwrap().count(), 100);
    // The index check ran once, before the first chunk: both indexes are there.
    let files = db
        .collection::<Document>("fs.files")
        .list_index_names()
        .run()
        .unwrap();
    assert!(
        files.contains(&"filename_1_uploadDate_1".to_owned()),
        "{files:?}"
    );
    let chunk_indexes: Vec<_> = db
        .collection::<Document>("fs.chunks")
        .list_indexes()
        .run()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let files_id_n = chunk_indexes
        .iter()
        .find(|i| i.keys == doc! { "files_id": 1, "n": 1 })
        .unwrap_or_else(|| panic!("no files_id_1_n_1 in {chunk_indexes:?}"));
    assert_eq!(
        files_id_n.options.as_ref().and_then(|o| o.unique),
        Some(true)
    );
    db.drop().run().unwrap();
}

#[test]
fn a_corrupt_or_missing_chunk_is_an_error_naming_the_file_and_the_chunk() {
    let Some(db) = database("gridfs_corrupt") else {
        return;
    };
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(1000)
            .build(),
    );
    let chunks = db.collection::<Document>("fs.chunks");
    let bytes = content(3, 0..4500); // chunks 0..=3 of 1000 bytes, chunk 4 of 500

    // Chunk 2 one byte short.
    let id = upload(&bucket, "wrong-size.bin", &bytes);
    let short = Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![0; 999],
    };
    let updated = chunks
        .update_one(
            doc! { "files_id": id.clone(), "n": 2 },
            doc! { "$set": { "data": short } },
        )
        .run()
        .unwrap();
    assert_eq!(updated.modified_count, 1);
    let mut got = Vec::new();
    let err = bucket
        .open_download_stream(id.clone())
        .run()
        .unwrap()
        .read_to_end(&mut got)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(
        message.contains(&id.to_string()) && message.contains("n=2"),
        "{message}"
    );
    assert_eq!(
        gridfs_kind(driver_error(&err)),
        &GridFsErrorKind::WrongSizeChunk {
            files_id: id.clone(),
            n: 2,
            actual_size: 999,
            expected_size: 1000
        }
    );
    assert!(
        got == bytes[..2000],
        "the chunks before the bad one were read"
    );

    // The last chunk too long.
    let id = upload(&bucket, "long-tail.bin", &bytes);
    let long = Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![0; 501],
    };
    chunks
        .update_one(
            doc! { "files_id": id.clone(), "n": 4 },
            doc! { "$set": { "data": long } },
        )
        .run()
        .unwrap();
    let err = bucket
        .download_to_writer(id.clone(), io::sink())
        .run()
        .unwrap_err();
    assert_eq!(
        gridfs_kind(&err),
        &GridFsErrorKind::WrongSizeChunk {
            files_id: id.clone(),
            n: 4,
            actual_size: 501,
            expected_size: 500
        }
    );

    // A chunk in the middle missing, then the last one.
    for missing in [1, 4] {
        let id = upload(&bucket, "missing.bin", &bytes);
        let deleted = chunks
            .delete_one(doc! { "files_id": id.clone(), "n": missing })
            .run()
            .unwrap();
        assert_eq!(deleted.deleted_count, 1);
        let err = bucket
            .download_to_writer(id.clone(), io::sink())
            .run()
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&id.to_string()) && message.contains(&format!("n={missing}")),
            "{message}"
        );
        assert_eq!(
            gridfs_kind(&err),
            &GridFsErrorKind::MissingChunk {
                files_id: id.clone(),
                n: missing
            }
        );
        let err = io::copy(
            &mut bucket.open_download_stream(id.clone()).run().unwrap(),
            &mut io::sink(),
        )
        .unwrap_err();
        assert_eq!(
            gridfs_kind(driver_error(&err)),
            &GridFsErrorKind::MissingChunk {
                files_id: id,
                n: missing
            }
        );
    }

    // No files document at all.
    let err = bucket
        .open_download_stream(Bson::from("nothing"))
        .run()
        .unwrap_err();
    assert_eq!(
        gridfs_kind(&err),
        &GridFsErrorKind::FileNotFound {
            identifier: GridFsFileIdentifier::Id(Bson::from("nothing"))
        }
    );
    db.drop().run().unwrap();
}

#[test]
fn abort_and_drop_without_close_leave_no_chunks() {
    let Some(db) = database("gridfs_abort") else {
        return;
    };
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(1024)
            .build(),
    );
    let bytes = content(4, 0..5000);

    // Chunks go out as they fill: 4 sent, 904 bytes buffered.
    let mut stream = bucket.open_upload_stream("aborted").run().unwrap();
    let id = stream.id().clone();
    stream.write_all(&bytes).unwrap();
    assert_eq!(chunk_count(&db, "fs", &id), 4);
    stream.abort().unwrap();
    assert_eq!(chunk_count(&db, "fs", &id), 0);
    assert!(bucket.find_one(doc! { "_id": id }).run().unwrap().is_none());
    let err = stream.write_all(b"more").unwrap_err();
    assert_eq!(
        gridfs_kind(driver_error(&err)),
        &GridFsErrorKind::UploadStreamClosed
    );
    assert_eq!(
        gridfs_kind(&stream.close().unwrap_err()),
        &GridFsErrorKind::UploadStreamClosed
    );
    assert_eq!(
        gridfs_kind(&stream.abort().unwrap_err()),
        &GridFsErrorKind::UploadStreamClosed
    );

    // Dropped on a plain thread, and in a coroutine.
    let mut stream = bucket.open_upload_stream("dropped").run().unwrap();
    let id = stream.id().clone();
    stream.write_all(&bytes).unwrap();
    assert_eq!(chunk_count(&db, "fs", &id), 4);
    drop(stream);
    assert_eq!(chunk_count(&db, "fs", &id), 0);

    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let in_coroutine = bucket.clone();
    let id = rt.block_on(move || {
        coroutine::spawn(move || {
            let mut stream = in_coroutine
                .open_upload_stream("dropped in a coroutine")
                .run()
                .unwrap();
            stream.write_all(&content(5, 0..3000)).unwrap();
            stream.id().clone()
        })
        .join()
        .unwrap()
    });
    assert_eq!(chunk_count(&db, "fs", &id), 0);
    assert_eq!(bucket.find(doc! {}).run().unwrap().count(), 0);

    // A closed stream takes nothing more, and dropping it deletes nothing.
    let mut stream = bucket.open_upload_stream("closed").run().unwrap();
    stream.write_all(&bytes).unwrap();
    stream.close().unwrap();
    assert!(stream.write_all(b"x").is_err());
    let id = stream.id().clone();
    drop(stream);
    assert_eq!(chunk_count(&db, "fs", &id), 5);

    // An upload given the id of an existing file fails, and its cleanup leaves the
    // existing file whole: on its first chunk (the unique files_id_1_n_1 index)...
    let mut again = bucket
        .open_upload_stream("same id")
        .id(id.clone())
        .run()
        .unwrap();
    let err = again.write_all(&bytes).unwrap_err();
    assert_eq!(driver_error(&err).code(), Some(11000), "{err}");
    assert_eq!(
        gridfs_kind(&again.close().unwrap_err()),
        &GridFsErrorKind::UploadStreamClosed
    );
    assert!(
        download(&bucket, &id) == bytes,
        "the existing file is untouched"
    );
    // ...or, for an existing empty file (no chunks to collide with), on its files document.
    let empty = upload(&bucket, "empty", b"");
    let mut again = bucket
        .open_upload_stream("same id")
        .id(empty.clone())
        .run()
        .unwrap();
    again.write_all(&bytes).unwrap();
    assert_eq!(again.close().unwrap_err().code(), Some(11000));
    assert_eq!(chunk_count(&db, "fs", &empty), 0);
    assert_eq!(download(&bucket, &empty), b"");
    db.drop().run().unwrap();
}

#[test]
fn revisions_rename_delete_find_and_drop() {
    let Some(db) = database("gridfs_names") else {
        return;
    };
    let options = GridFsBucketOptions::builder()
        .bucket_name("docs")
        .chunk_size_bytes(8)
        .build();
    let bucket = db.gridfs_bucket(options);
    assert_eq!(bucket.bucket_name(), "docs");
    let mut ids = Vec::new();
    for text in ["first", "second version", "third and latest version"] {
        ids.push(upload(&bucket, "report", text.as_bytes()));
        std::thread::sleep(Duration::from_millis(3)); // distinct uploadDates
    }
    let by_name = |name: &str, revision: Option<i32>| -> greenmongo::Result<String> {
        let mut action = bucket.open_download_stream_by_name(name);
        if let Some(revision) = revision {
            action = action.revision(revision);
        }
        let mut text = String::new();
        action.run()?.read_to_string(&mut text).unwrap();
        Ok(text)
    };
    assert_eq!(by_name("report", None).unwrap(), "third and latest version");
    assert_eq!(
        by_name("report", Some(-1)).unwrap(),
        "third and latest version"
    );
    assert_eq!(by_name("report", Some(0)).unwrap(), "first");
    assert_eq!(by_name("report", Some(1)).unwrap(), "second version");
    assert_eq!(by_name("report", Some(-2)).unwrap(), "second version");
    assert_eq!(by_name("report", Some(-3)).unwrap(), "first");
    for revision in [3, -4] {
        assert_eq!(
            gridfs_kind(&by_name("report", Some(revision)).unwrap_err()),
            &GridFsErrorKind::RevisionNotFound {
                filename: "report".into(),
                revision
            }
        );
    }
    assert_eq!(
        gridfs_kind(&by_name("nope", None).unwrap_err()),
        &GridFsErrorKind::FileNotFound {
            identifier: GridFsFileIdentifier::Filename("nope".into())
        }
    );

    // find and find_one, with their options.
    let lengths: Vec<u64> = bucket
        .find(doc! { "filename": "report" })
        .sort(doc! { "uploadDate": 1 })
        .run()
        .unwrap()
        .map(|f| f.unwrap().length)
        .collect();
    assert_eq!(lengths, [5, 14, 24]);
    let second = bucket
        .find(doc! {})
        .sort(doc! { "uploadDate": 1 })
        .skip(1)
        .limit(1)
        .run()
        .unwrap();
    assert_eq!(
        second.map(|f| f.unwrap().id).collect::<Vec<_>>(),
        [ids[1].clone()]
    );
    let latest = bucket
        .find_one(doc! {})
        .sort(doc! { "uploadDate": -1 })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, ids[2]);

    // The stored types are the spec's: length int64, chunkSize int32; custom id, metadata.
    let mut stream = bucket
        .open_upload_stream("with-metadata")
        .id(Bson::from("custom-id"))
        .chunk_size_bytes(3)
        .metadata(doc! { "owner": "ann" })
        .run()
        .unwrap();
    stream.write_all(b"abcdefg").unwrap();
    stream.close().unwrap();
    let raw = db
        .collection::<RawDocumentBuf>("docs.files")
        .find_one(doc! { "_id": "custom-id" })
        .run()
        .unwrap()
        .unwrap();
    let raw = bson::Document::try_from(raw.as_ref()).unwrap();
    assert_eq!(raw.get("length"), Some(&Bson::Int64(7)));
    assert_eq!(raw.get("chunkSize"), Some(&Bson::Int32(3)));
    assert_eq!(
        raw.get_document("metadata").unwrap(),
        &doc! { "owner": "ann" }
    );
    assert!(matches!(raw.get("uploadDate"), Some(Bson::DateTime(_))));
    assert_eq!(chunk_count(&db, "docs", &Bson::from("custom-id")), 3);
    assert_eq!(download(&bucket, &Bson::from("custom-id")), b"abcdefg");

    // rename and rename_by_name.
    bucket.rename(ids[0].clone(), "report-draft").run().unwrap();
    assert_eq!(by_name("report", Some(0)).unwrap(), "second version");
    assert_eq!(by_name("report-draft", None).unwrap(), "first");
    let err = bucket.rename(Bson::from("missing"), "x").run().unwrap_err();
    assert!(matches!(
        gridfs_kind(&err),
        GridFsErrorKind::FileNotFound { .. }
    ));
    bucket.rename_by_name("report", "final").run().unwrap();
    assert_eq!(
        bucket
            .find(doc! { "filename": "final" })
            .run()
            .unwrap()
            .count(),
        2
    );
    assert!(bucket.rename_by_name("report", "x").run().is_err());

    // delete: files document and chunks; a second delete finds nothing.
    bucket.delete(ids[0].clone()).run().unwrap();
    assert!(
        bucket
            .find_one(doc! { "_id": ids[0].clone() })
            .run()
            .unwrap()
            .is_none()
    );
    assert_eq!(chunk_count(&db, "docs", &ids[0]), 0);
    let err = bucket.delete(ids[0].clone()).run().unwrap_err();
    assert_eq!(
        gridfs_kind(&err),
        &GridFsErrorKind::FileNotFound {
            identifier: GridFsFileIdentifier::Id(ids[0].clone())
        }
    );
    // delete_by_name: every revision.
    bucket.delete_by_name("final").run().unwrap();
    assert_eq!(
        chunk_count(&db, "docs", &ids[1]) + chunk_count(&db, "docs", &ids[2]),
        0
    );
    assert!(bucket.delete_by_name("final").run().is_err());

    // drop: both collections go; the next upload makes the indexes again.
    bucket.drop().run().unwrap();
    let names = db.list_collection_names().run().unwrap();
    assert!(!names.iter().any(|n| n.starts_with("docs.")), "{names:?}");
    upload(&bucket, "after-drop", b"again");
    let indexes = db
        .collection::<Document>("docs.chunks")
        .list_index_names()
        .run()
        .unwrap();
    assert!(
        indexes.contains(&"files_id_1_n_1".to_owned()),
        "{indexes:?}"
    );
    db.drop().run().unwrap();
}

#[test]
fn a_download_stream_seeks_anywhere() {
    let Some(db) = database("gridfs_seek") else {
        return;
    };
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(1000)
            .build(),
    );
    let bytes = content(6, 0..10_500);
    let id = upload(&bucket, "seek.bin", &bytes);
    let mut stream = bucket.open_download_stream(id).run().unwrap();
    let mut read_at = |to: SeekFrom, len: usize| -> (u64, Vec<u8>) {
        let at = stream.seek(to).unwrap();
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match stream.read(&mut buf[filled..]).unwrap() {
                0 => break,
                n => filled += n,
            }
        }
        buf.truncate(filled);
        (at, buf)
    };
    assert_eq!(
        read_at(SeekFrom::Start(2500), 10),
        (2500, bytes[2500..2510].to_vec())
    );
    assert_eq!(
        read_at(SeekFrom::Start(995), 10),
        (995, bytes[995..1005].to_vec())
    ); // across a chunk boundary
    assert_eq!(
        read_at(SeekFrom::Current(-5), 5),
        (1000, bytes[1000..1005].to_vec())
    );
    assert_eq!(
        read_at(SeekFrom::Start(7000), 1),
        (7000, bytes[7000..7001].to_vec())
    ); // forward: new cursor
    assert_eq!(
        read_at(SeekFrom::End(-10), 100),
        (10_490, bytes[10_490..].to_vec())
    );
    assert_eq!(read_at(SeekFrom::End(5), 10), (10_505, Vec::new())); // past the end
    assert_eq!(read_at(SeekFrom::Start(0), 20_000), (0, bytes.clone()));
    // BufRead lends the rest of the chunk in hand.
    stream.seek(SeekFrom::Start(2500)).unwrap();
    assert_eq!(stream.fill_buf().unwrap(), &bytes[2500..3000]);
    stream.consume(400);
    assert_eq!(stream.fill_buf().unwrap(), &bytes[2900..3000]);
    let err = stream.seek(SeekFrom::Current(-20_000)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(stream.file().length, 10_500);
    db.drop().run().unwrap();
}

#[test]
fn chunks_go_out_as_they_fill_and_come_back_one_per_batch() {
    let Some(uri) = server::uri() else {
        return;
    };
    let sent = Arc::new(Mutex::new(Vec::<Document>::new()));
    let sink = sent.clone();
    let mut options = ClientOptions::parse(&uri).unwrap();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        if let CommandEvent::Started(started) = e {
            sink.lock().unwrap().push(started.command.clone());
        }
    }));
    let client = Client::with_options(options).unwrap();
    let db = client.database(&server::unique("gridfs_wire"));
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .chunk_size_bytes(1000)
            .build(),
    );
    // The commands sent since the last call, as (name, target collection, command).
    let take = || -> Vec<(String, String, Document)> {
        sent.lock()
            .unwrap()
            .drain(..)
            .filter_map(|c| {
                let (name, target) = c.iter().next()?;
                let target = target.as_str().unwrap_or_default().to_owned();
                Some((name.clone(), target, c.clone()))
            })
            .collect()
    };
    let named = |commands: &[(String, String, Document)], name: &str, target: &str| {
        commands
            .iter()
            .filter(|(n, t, _)| n == name && t == target)
            .count()
    };

    // Opening the first upload checks the indexes: the files collection is empty (read
    // from the primary), so both are created, the chunks' one unique.
    let mut upload = bucket.open_upload_stream("wire.bin").run().unwrap();
    let commands = take();
    let check = &commands
        .iter()
        .find(|(n, t, _)| n == "find" && t == "fs.files")
        .unwrap()
        .2;
    assert_eq!(
        check.get_document("projection").unwrap(),
        &doc! { "_id": 1 }
    );
    let create = &commands
        .iter()
        .find(|(n, t, _)| n == "createIndexes" && t == "fs.chunks")
        .unwrap()
        .2;
    let index = create.get_array("indexes").unwrap()[0]
        .as_document()
        .unwrap();
    assert_eq!(
        index.get_document("key").unwrap(),
        &doc! { "files_id": 1, "n": 1 }
    );
    assert_eq!(index.get("unique"), Some(&Bson::Boolean(true)));
    assert_eq!(named(&commands, "createIndexes", "fs.files"), 1);

    // 2500 bytes: two full chunks sent at once, 500 bytes buffered until close.
    let bytes = content(7, 0..2500);
    upload.write_all(&bytes).unwrap();
    assert_eq!(named(&take(), "insert", "fs.chunks"), 2);
    upload.close().unwrap();
    let commands = take();
    assert_eq!(
        (
            named(&commands, "insert", "fs.chunks"),
            named(&commands, "insert", "fs.files")
        ),
        (1, 1)
    );
    // A second upload does not check the indexes again.
    upload_and_check_no_index_commands(&bucket, &take);

    // Reading: the files document, then one chunk per batch; the cursor ends with the
    // last chunk, so nothing is left to kill.
    let mut got = Vec::new();
    bucket
        .open_download_stream(upload.id().clone())
        .run()
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == bytes);
    let commands = take();
    let find = &commands
        .iter()
        .find(|(n, t, _)| n == "find" && t == "fs.chunks")
        .unwrap()
        .2;
    assert_eq!(bson_int(find.get("batchSize")), Some(1), "{find}");
    assert_eq!(bson_int(find.get("limit")), Some(3), "{find}");
    let get_mores: Vec<_> = commands.iter().filter(|(n, _, _)| n == "getMore").collect();
    assert_eq!(get_mores.len(), 2, "{commands:?}");
    assert!(
        get_mores
            .iter()
            .all(|(_, _, c)| bson_int(c.get("batchSize")) == Some(1))
    );
    assert_eq!(
        commands
            .iter()
            .filter(|(n, _, _)| n == "killCursors")
            .count(),
        0
    );

    // Dropping a stream part way kills its cursor.
    let mut stream = bucket
        .open_download_stream(upload.id().clone())
        .run()
        .unwrap();
    stream.read_exact(&mut [0; 10]).unwrap();
    drop(stream);
    assert_eq!(
        take().iter().filter(|(n, _, _)| n == "killCursors").count(),
        1
    );
    db.drop().run().unwrap();
}

fn upload_and_check_no_index_commands(
    bucket: &GridFsBucket,
    take: &dyn Fn() -> Vec<(String, String, Document)>,
) {
    upload(bucket, "second.bin", b"abc");
    let names: Vec<String> = take().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["insert", "insert"], "one chunk, one files document");
}

fn bson_int(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        _ => None,
    }
}
