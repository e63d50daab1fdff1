//! Entry points of the server's fuzz targets (`fuzz/`, cargo-fuzz) and of the
//! test that replays their corpora (`tests/fuzz_corpus.rs`), so both run the
//! same code. Not part of the API: each function takes arbitrary bytes and
//! panics only when it finds a bug.
//!
//! Inputs of `request_split` have the header of
//! [`myriad::fuzzing::with_header`]: flags, a seed of the split points, then
//! the bytes a client sent.

use crate::request::RequestParser;
use crate::response::Reply;

/// Every reply the request parser queued for `input`, in order, whether it
/// asked to close, and how many bytes it consumed, with `input` read in the
/// pieces `rng` picks (`None`: all at once), unconsumed bytes fed again with
/// the next ones as the connection task does.
fn replies(input: &[u8], rng: Option<fastrand::Rng>) -> (Vec<String>, bool, usize) {
    let mut rng = rng;
    let mut parser = RequestParser::new(crate::DEFAULT_MAX_BODY);
    let mut replies: Vec<Reply> = Vec::new();
    let (mut start, mut end) = (0usize, 0usize);
    let mut close = false;
    while end < input.len() {
        let room = input.len() - end;
        end += match &mut rng {
            None => room,
            Some(rng) => match rng.u8(..4) {
                0 => 1,
                1 => rng.usize(1..=room.min(16)),
                2 => rng.usize(1..=room),
                _ => room,
            },
        };
        let p = parser.feed(&input[start..end], &mut replies);
        assert!(p.consumed <= end - start, "consumed more than it was given");
        start += p.consumed;
        if p.close {
            close = true;
            break;
        }
    }
    let replies = replies.iter().map(|r| format!("{r:?}")).collect();
    (replies, close, start)
}

/// Fuzz target `server_request`: requests read whole and read in random
/// pieces get the same replies, and a connection asked to close is closed
/// at the same byte.
pub fn request_split(data: &[u8]) {
    let (seed, message) = match data.get(1..myriad::fuzzing::HEADER_LEN) {
        Some(seed) => {
            let mut s = [0u8; 8];
            s.copy_from_slice(seed);
            (u64::from_le_bytes(s), &data[myriad::fuzzing::HEADER_LEN..])
        }
        None => (0, data),
    };
    let whole = replies(message, None);
    let split = replies(message, Some(fastrand::Rng::with_seed(seed)));
    assert_eq!(
        (&whole.0, whole.1),
        (&split.0, split.1),
        "the replies depend on how the bytes were split"
    );
    // Once the connection closes (a bad request), how far the parser got into
    // the bytes after it does not matter: nothing more is read.
    if !whole.1 {
        assert_eq!(whole.2, split.2, "consumed bytes depend on the split");
    }
}

/// Fuzz target `tls_pem`, server side: a certificate chain and key in PEM
/// (split at the first NUL) make an identity and an acceptor, or are refused
/// with an error, never a panic. The client's side of the same input is
/// [`myriad::fuzzing::tls_pem`].
pub fn tls_pem(data: &[u8]) {
    let (cert, key) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let cert = String::from_utf8_lossy(cert);
    let key = String::from_utf8_lossy(key);
    if let Ok(identity) = crate::TlsIdentity::from_pem(&cert, &key) {
        assert!(!identity.chain().is_empty());
        let _ = identity.acceptor();
    }
}
