//! The child's side: lines to the parent on stdout, lines from it on stdin.

use std::io::{BufRead, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{decode, encode, Control, SuperviseError};

/// Writes `line` to stdout as one line and flushes it. Lines of several
/// threads never interleave; an error means the parent no longer reads.
pub fn emit<L: Serialize>(line: &L) -> Result<(), SuperviseError> {
    let mut text = encode(line)?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Reads the next line of stdin as an `L`; `None` once stdin has ended.
pub fn read_stdin_line<L: DeserializeOwned>() -> Result<Option<L>, SuperviseError> {
    read_line(&mut std::io::stdin().lock())
}

fn read_line<L: DeserializeOwned>(input: &mut impl BufRead) -> Result<Option<L>, SuperviseError> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(decode(&line)?))
}

/// Cancels `token` once stdin says [`Control::Cancel`] or ends, on a thread of
/// its own. The parent holds the other end of the pipe, so stdin ends when the
/// parent closes it or dies, however it died: a child never outlives its
/// parent's interest. Other lines are skipped (a protocol's own lines are read
/// before this starts).
pub fn cancel_on_stdin(token: CancellationToken) -> Result<(), SuperviseError> {
    std::thread::Builder::new()
        .name("myriad-stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            watch(std::io::stdin().lock());
            token.cancel();
        })?;
    Ok(())
}

/// How the watch of a child's stdin ended.
#[derive(Debug, PartialEq, Eq)]
enum Watched {
    Cancel,
    Ended,
}

/// Reads `input` until a cancel line or its end.
fn watch(mut input: impl BufRead) -> Watched {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // A read error other than EINTR (which `read_until` retries) is as
        // good as the end: nothing more will come from the parent.
        match input.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return Watched::Ended,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        if let Ok(Control::Cancel) = decode::<Control>(&line) {
            return Watched::Cancel;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn the_watch_ends_at_a_cancel_line_or_at_the_end() {
        let mut input = Cursor::new(
            "cancel\n{\"v\":2,\"kind\":\"cancel\"}\n{\"v\":1,\"kind\":\"other\"}\n\n\
             {\"v\":1,\"kind\":\"cancel\"}\nafter\n",
        );
        assert_eq!(watch(&mut input), Watched::Cancel);
        let mut rest = String::new();
        input.read_line(&mut rest).unwrap();
        assert_eq!(rest, "after\n", "nothing read past the cancel line");
        assert_eq!(watch(Cursor::new("junk\n\u{fffd}\n")), Watched::Ended);
        assert_eq!(watch(Cursor::new("")), Watched::Ended);
    }

    #[test]
    fn read_line_reads_one_line_or_none_at_the_end() {
        let mut input = Cursor::new("{\"v\":1,\"kind\":\"cancel\"}\n{\"v\":9}\n");
        assert_eq!(read_line(&mut input).unwrap(), Some(Control::Cancel));
        let err = read_line::<Control>(&mut input).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        assert_eq!(read_line::<Control>(&mut input).unwrap(), None);
    }
}
