//! End to end, limits against hostile clients: `max_connections` per shard pauses accepting
//! (a connection past it waits in the kernel's backlog and is served once another closes, never
//! refused), and running out of descriptors (EMFILE under a lowered `RLIMIT_NOFILE`) is backed
//! off and survived.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::gateway::closed_port_url;
use support::{EVENTUALLY, Gateway, wait_for};

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: sluice\r\n\r\n";

/// Sends a health check on `stream` and reads its answer's status line (keep-alive).
fn health(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.write_all(HEALTH)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    // The health body is small: read it along with the head above, or now.
    Ok(String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned())
}

#[test]
fn past_max_connections_a_connection_waits_and_is_served_when_one_closes() {
    let gateway = Gateway::start(
        &closed_port_url(),
        None,
        &[("cores", "1"), ("max_connections", "2")],
    );
    let mut first = TcpStream::connect(gateway.addr).expect("connect");
    let mut second = TcpStream::connect(gateway.addr).expect("connect");
    assert!(health(&mut first).expect("first").contains(" 200 "));
    assert!(health(&mut second).expect("second").contains(" 200 "));

    // The third connects (the kernel's backlog) but is not accepted while two are open.
    let mut third = TcpStream::connect(gateway.addr).expect("not refused");
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let waiting = health(&mut third).expect_err("no answer at the limit");
    assert!(
        matches!(waiting.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{waiting}"
    );

    drop(first);
    third.set_read_timeout(Some(EVENTUALLY)).expect("timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = third.read(&mut buf).expect("served once a slot is free");
        assert!(n > 0, "closed instead of served");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The connection that stayed open still works.
    assert!(health(&mut second).expect("second").contains(" 200 "));
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sets the soft `RLIMIT_NOFILE` of process `pid` (the hard limit stays); returns the old soft.
fn set_nofile(pid: u32, soft: u64) -> u64 {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit reads no new limit here and writes the current one into `old`.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: prlimit only reads `new` (null: the old limit is not written back).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    old.rlim_cur
}

#[test]
fn out_of_descriptors_accept_backs_off_and_recovers() {
    let gateway = Gateway::start(&closed_port_url(), None, &[("cores", "1")]);
    let mut probe = TcpStream::connect(gateway.addr).expect("connect");
    assert!(health(&mut probe).expect("probe").contains(" 200 "));
    drop(probe);
    let base = wait_for(EVENTUALLY, || {
        let n = open_descriptors(gateway.pid());
        (n > 0).then_some(n)
    })
    .expect("descriptor count");
    // Room for two more descriptors only.
    let soft = set_nofile(gateway.pid(), (base + 2) as u64);

    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(gateway.addr).expect("the backlog takes it"))
        .collect();
    let logged = wait_for(EVENTUALLY, || {
        let stderr = gateway.stderr();
        stderr
            .lines()
            .any(|l| l.contains("accept failed") && l.contains("Too many open files"))
            .then_some(())
    });
    assert!(
        logged.is_some(),
        "no EMFILE accept failure logged:\n{}",
        gateway.stderr()
    );

    // Descriptors come back: the shard accepts again and answers.
    held.clear();
    set_nofile(gateway.pid(), soft);
    let served = wait_for(EVENTUALLY, || {
        let mut stream = TcpStream::connect(gateway.addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        health(&mut stream).ok().filter(|s| s.contains(" 200 "))
    });
    assert!(
        served.is_some(),
        "not served after EMFILE:\n{}",
        gateway.stderr()
    );
}

/// Failed authentications a client address may make per minute in the test below.
const AUTH_FAILURES: usize = 3;

#[test]
fn failed_authentications_are_limited_per_address_with_429_and_retry_after() {
    use support::governance::{
        self as gov, Auth, GovConfig, assert_error, call, platform_hierarchy,
    };
    let mock = gov::priced_mock();
    let state = support::TempDir::new("hard-auth-throttle");
    let alice = gov::vkey("alice");
    let mut config = GovConfig::new(&mock.base_url(), state.path());
    config.cores = 1;
    config.hierarchy = platform_hierarchy("", "", &[("alice", alice.as_str(), "")]);
    let toml = config.toml().replacen(
        "[server]\n",
        &format!("[server]\nmax_auth_failures_per_minute = {AUTH_FAILURES}\n"),
        1,
    );
    let gateway = Gateway::start_config(&toml);

    // A key works, and a missing key is not a guess: neither counts.
    assert_eq!(call(&gateway, Auth::XApiKey(&alice)).status, 200);
    assert_error(&call(&gateway, Auth::Nothing), 401, "authentication_error");
    // Up to the limit, a wrong key is 401.
    for i in 0..AUTH_FAILURES {
        let guess = format!("sk-sluice-guess-{i}");
        assert_error(
            &call(&gateway, Auth::XApiKey(&guess)),
            401,
            "authentication_error",
        );
    }
    // One past: 429 with retry-after, whatever key is sent, the right one included.
    for key in ["sk-sluice-guess-next", alice.as_str()] {
        let refused = call(&gateway, Auth::XApiKey(key));
        let message = assert_error(&refused, 429, "rate_limit_error");
        assert!(message.contains("failed authentications"), "{message}");
        let retry_after: u64 = refused
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("retry-after");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    let metrics = gov::metrics(&gateway);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sluice_rejections_total{reason=\"auth_throttled\"} 2")),
        "{metrics}"
    );
    assert_eq!(
        mock.requests().len(),
        1,
        "only the first request went upstream"
    );
}
