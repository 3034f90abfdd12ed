//! Sockets, registrations and runtimes give back every file descriptor.

mod util;

use std::io::{Read, Write};

use greenmongo_runtime::{
    coroutine,
    net::{TcpListener, TcpStream},
};

#[test]
fn open_fds_before_equal_open_fds_after() {
    // Warm up lazily opened process-wide fds (none expected, but be fair).
    drop(util::runtime(1));
    let before = util::open_fds();
    {
        let rt = util::runtime(2);
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = coroutine::spawn(move || {
                for _ in 0..200 {
                    let (mut c, _) = listener.accept().unwrap();
                    coroutine::spawn(move || {
                        let mut b = [0u8; 4];
                        c.read_exact(&mut b).unwrap();
                        c.write_all(&b).unwrap();
                    });
                }
            });
            let clients: Vec<_> = (0..200)
                .map(|_| {
                    coroutine::spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        let clone = s.try_clone().unwrap();
                        s.write_all(b"ping").unwrap();
                        let mut b = [0u8; 4];
                        (&clone).read_exact(&mut b).unwrap();
                    })
                })
                .collect();
            clients.into_iter().for_each(|c| c.join().unwrap());
            server.join().unwrap();
        });
        // Sockets used on threads too.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _s = l.accept().unwrap();
    }
    assert_eq!(util::open_fds(), before);
}
