//! Running out of file descriptors must neither kill the accept loop nor make
//! it spin. Alone in its own test binary because it lowers the process-wide
//! descriptor limit.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use myriad_server::{bind, spawn, ServerConfig};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn set_soft_limit(soft: libc::rlim_t) -> libc::rlimit {
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let old = limit;
        limit.rlim_cur = soft.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        old
    }
}

#[test]
fn accept_survives_descriptor_exhaustion_without_spinning() {
    let server = spawn(
        bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        ServerConfig::default(),
        1,
    )
    .unwrap();
    let addr = server.local_addr();

    let old = set_soft_limit(512);
    let mut filler = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
        assert!(filler.len() < 10_000, "descriptor limit not in force");
    }
    // One descriptor for the client's socket; none left for the server's accept.
    filler.pop();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();

    let (cpu, wall) = (cpu_time(), Instant::now());
    // The window is the measurement, not a wait for an event: for 300 ms the
    // server has a connection it cannot accept, and the test counts the CPU
    // the accept loop burns meanwhile (a spinning loop would take all of it).
    sleep(Duration::from_millis(300));
    let busy = cpu_time() - cpu;
    let elapsed = wall.elapsed();
    assert_eq!(
        server.stats().connections_accepted,
        0,
        "accepted without a descriptor?"
    );
    assert!(
        busy < elapsed / 3,
        "accept loop spins: {busy:?} of CPU in {elapsed:?}"
    );

    drop(filler);
    let mut buf = vec![0; RESPONSE.len()];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(buf, RESPONSE);
    assert_eq!(server.stats().connections_accepted, 1);

    // SAFETY: restoring the limit read above.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &old);
    }
    drop(server);
}
