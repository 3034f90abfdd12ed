//! Unix domain sockets in coroutines and on threads.

mod util;

use std::io::{Read, Write};

use greenmongo_runtime::{
    coroutine,
    net::{UnixListener, UnixStream},
};

#[test]
fn unix_echo_between_coroutines() {
    let path = std::env::temp_dir().join(format!("gm-unix-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let rt = util::runtime(2);
    let p = path.clone();
    let total: usize = rt.block_on(move || {
        let server = coroutine::spawn(move || {
            for _ in 0..100 {
                let (mut conn, _) = listener.accept().unwrap();
                coroutine::spawn(move || {
                    let mut buf = [0u8; 16];
                    let n = conn.read(&mut buf).unwrap();
                    conn.write_all(&buf[..n]).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..100usize)
            .map(|i| {
                let p = p.clone();
                coroutine::spawn(move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    s.write_all(&i.to_le_bytes()).unwrap();
                    let mut back = [0u8; 8];
                    s.read_exact(&mut back).unwrap();
                    usize::from_le_bytes(back)
                })
            })
            .collect();
        let total = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    assert_eq!(total, 4950);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_pair_works_across_a_thread_and_a_coroutine() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let rt = util::runtime(1);
    let h = rt.spawn(move || {
        let mut b = b;
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
    });
    a.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    h.join().unwrap();
}
