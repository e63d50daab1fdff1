//! The supervisor with real children: `sh -c` scripts.

use super::*;

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

/// Every event until every child has ended.
fn drain(sup: &mut Supervisor<Control>) -> Vec<Event<Control>> {
    std::iter::from_fn(|| sup.recv()).collect()
}

const CANCEL: &str = r#"{"v":1,"kind":"cancel"}"#;

#[test]
fn lines_then_an_exit_code() {
    let mut sup = Supervisor::<Control>::new();
    let script = format!("echo '{CANCEL}'; echo garbage; echo; printf '\\377\\n'; exit 3");
    assert_eq!(sup.spawn(&mut sh(&script)).unwrap(), 0);
    assert_eq!((sup.len(), sup.running()), (1, 1));
    let events = drain(&mut sup);
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(matches!(events[0], Event::Line(0, Control::Cancel)));
    assert!(
        matches!(&events[1], Event::Garbled { child: 0, line, error: LineError::NotJson(_) } if line == "garbage"),
        "{events:?}"
    );
    assert!(
        matches!(&events[2], Event::Garbled { line, .. } if line == "\u{fffd}"),
        "invalid UTF-8 is shown, not fatal: {events:?}"
    );
    let Event::Ended(0, exit) = events[3] else {
        panic!("{events:?}");
    };
    assert_eq!(exit, Exit::Code(3));
    assert_eq!(exit.to_string(), "exit code 3");
    assert!(!exit.success());
    assert_eq!(sup.running(), 0);
    assert!(sup.recv().is_none(), "nothing after every child ended");
}

#[test]
fn a_child_killed_by_a_signal_is_described_with_its_name() {
    let mut sup = Supervisor::<Control>::new();
    sup.spawn(&mut sh("kill -9 $$")).unwrap();
    sup.spawn(&mut sh(&format!("kill -{} $$", libc::SIGUSR1)))
        .unwrap();
    sup.spawn(&mut sh("exit 0")).unwrap();
    let mut exits = [None; 3];
    for event in drain(&mut sup) {
        if let Event::Ended(i, exit) = event {
            exits[i] = Some(exit);
        }
    }
    assert_eq!(exits[0], Some(Exit::Signal(libc::SIGKILL)));
    assert_eq!(
        exits[0].unwrap().to_string(),
        "killed by signal 9 (SIGKILL)"
    );
    assert_eq!(
        exits[1].unwrap().to_string(),
        format!("killed by signal {}", libc::SIGUSR1)
    );
    assert!(exits[2].unwrap().success());
}

#[test]
fn lines_reach_a_child_and_closing_stdin_stops_it() {
    let mut sup = Supervisor::<Control>::new();
    // Echoes its first line back, then exits when its stdin ends.
    sup.spawn(&mut sh("read line; echo \"$line\"; cat >/dev/null; exit 5"))
        .unwrap();
    sup.send(0, &Control::Cancel).unwrap();
    assert!(matches!(sup.recv(), Some(Event::Line(0, Control::Cancel))));
    sup.close(0);
    assert!(matches!(
        sup.send(0, &Control::Cancel),
        Err(SuperviseError::Closed(0))
    ));
    assert!(matches!(sup.recv(), Some(Event::Ended(0, Exit::Code(5)))));
    assert!(matches!(
        sup.send(1, &Control::Cancel),
        Err(SuperviseError::NoChild(1))
    ));
}

#[test]
fn stop_waits_then_kills_the_ones_that_do_not_stop() {
    let mut sup = Supervisor::<Control>::new();
    sup.spawn(&mut sh("cat >/dev/null")).unwrap();
    // Never reads its stdin: only SIGKILL ends it.
    sup.spawn(&mut sh("exec sleep 60")).unwrap();
    let mut events = Vec::new();
    sup.stop(Duration::from_millis(100), |e| events.push(e));
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(matches!(events[0], Event::Ended(0, Exit::Code(0))));
    assert!(matches!(events[1], Event::Killed(1)));
    assert!(matches!(
        events[2],
        Event::Ended(1, Exit::Signal(libc::SIGKILL))
    ));
    assert_eq!(sup.running(), 0);
}

#[test]
fn a_cancelled_token_sends_cancel_and_wakes_the_receiver() {
    let mut sup = Supervisor::<Control>::new();
    for _ in 0..2 {
        sup.spawn(&mut sh("read line; echo \"$line\"")).unwrap();
    }
    let token = CancellationToken::new();
    sup.cancel_on(&token).unwrap();
    token.cancel();
    let events = drain(&mut sup);
    let count = |f: fn(&Event<Control>) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::Cancelled)), 1, "{events:?}");
    assert_eq!(count(|e| matches!(e, Event::Line(_, Control::Cancel))), 2);
    assert_eq!(count(|e| matches!(e, Event::Ended(_, Exit::Code(0)))), 2);
}

#[test]
fn a_command_that_cannot_start_is_an_error() {
    let mut sup = Supervisor::<Control>::new();
    let err = sup
        .spawn(&mut Command::new("/nonexistent/myriad-child"))
        .unwrap_err();
    assert!(
        matches!(&err, SuperviseError::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert!(sup.is_empty());
    assert!(sup.recv().is_none());
}
