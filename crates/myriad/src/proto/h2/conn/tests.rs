//! The connection's frame reader on server bytes built here: responses,
//! splits at every byte boundary, flow control, GOAWAY, and the frames that
//! are connection errors.

use super::*;
use crate::proto::h2::{build_h2_request, hpack};

/// A frame as a server sends it.
pub(crate) fn server_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

/// A response head's block: `:status` (indexed when the static table has
/// it), then a `server` literal with incremental indexing, as h2 sends.
fn head_block(status: u16) -> Vec<u8> {
    let mut block = Vec::new();
    hpack::encode_field(&mut block, ":status", &status.to_string());
    block.push(0x40 | 54);
    block.push(5);
    block.extend_from_slice(b"myrid");
    block
}

fn request() -> Box<[u8]> {
    build_h2_request("GET", &[], b"", false, "localhost", "/")
        .unwrap()
        .block
}

/// A connection with streams 1, 3 and 5 open, and the bytes it wrote.
fn three_streams() -> (Conn<u32>, Vec<u8>) {
    let mut conn = Conn::default();
    let mut out = Vec::new();
    for tag in [1, 3, 5] {
        conn.open(tag, &request(), b"", &mut out);
    }
    (conn, out)
}

fn outcome(conn: &Conn<u32>) -> String {
    format!(
        "{:?} open {:?} dead {:?} goaway {:?} control {:?} pending {}",
        conn.done,
        conn.streams.iter().map(|s| s.id).collect::<Vec<_>>(),
        conn.dead,
        conn.goaway,
        conn.control,
        conn.pending.len()
    )
}

#[test]
fn the_first_write_opens_the_connection_and_its_streams() {
    let (conn, out) = three_streams();
    assert!(out.starts_with(frame::PREFACE));
    let mut at = frame::PREFACE.len();
    let mut kinds = Vec::new();
    while at < out.len() {
        let h = Head::parse(out[at..at + HEAD].try_into().unwrap());
        kinds.push((h.kind, h.flags, h.stream));
        at += HEAD + h.len;
    }
    let headers = frame::HEADERS;
    let flags = frame::END_HEADERS | frame::END_STREAM;
    assert_eq!(
        kinds,
        [
            (frame::SETTINGS, 0, 0),
            (frame::WINDOW_UPDATE, 0, 0),
            (headers, flags, 1),
            (headers, flags, 3),
            (headers, flags, 5)
        ]
    );
    assert_eq!(conn.streams.len(), 3);
}

#[test]
fn a_response_ends_its_stream_with_its_bytes() {
    let (mut conn, _) = three_streams();
    let mut bytes = server_frame(frame::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 5]);
    let head = server_frame(frame::HEADERS, frame::END_HEADERS, 3, &head_block(200));
    let data = server_frame(frame::DATA, frame::END_STREAM, 3, b"ok");
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&data);
    conn.feed(&bytes);
    assert_eq!(
        conn.done.pop_front(),
        Some(Done {
            tag: 3,
            result: Ok(200),
            io: IoCounts {
                sent: (HEAD + request().len()) as u64,
                received: (head.len() + data.len()) as u64
            }
        })
    );
    assert_eq!(conn.peer_max_streams(), 5);
    let mut out = Vec::new();
    conn.write_control(&mut out);
    assert_eq!(out, server_frame(frame::SETTINGS, frame::ACK, 0, b""));
    assert_eq!(conn.streams.len(), 2);
}

/// Every kind of frame a response may bring, on three streams.
fn rich_response() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(server_frame(
        frame::SETTINGS,
        0,
        0,
        &[0, 4, 0, 0x10, 0, 0, 0, 5, 0, 0, 0x40, 0],
    ));
    m.extend(server_frame(frame::PING, 0, 0, b"12345678"));
    // Stream 1: a 100 Continue head, then the final head over HEADERS (padded,
    // with priority) and two CONTINUATIONs, padded and plain DATA, trailers.
    m.extend(server_frame(
        frame::HEADERS,
        frame::END_HEADERS,
        1,
        &head_block(100),
    ));
    let block = head_block(404);
    let mut first = vec![3, 0, 0, 0, 0, 16];
    first.extend_from_slice(&block[..2]);
    first.extend_from_slice(&[0; 3]);
    m.extend(server_frame(
        frame::HEADERS,
        frame::PADDED | frame::PRIORITY_FLAG,
        1,
        &first,
    ));
    m.extend(server_frame(frame::CONTINUATION, 0, 1, &block[2..5]));
    m.extend(server_frame(
        frame::CONTINUATION,
        frame::END_HEADERS,
        1,
        &block[5..],
    ));
    m.extend(server_frame(
        frame::DATA,
        frame::PADDED,
        1,
        &[4, b'a', b'b', 0, 0, 0, 0],
    ));
    m.extend(server_frame(0x42, 0xff, 1, b"an unknown frame type"));
    m.extend(server_frame(frame::PRIORITY, 0, 3, &[0, 0, 0, 0, 9]));
    m.extend(server_frame(frame::DATA, 0, 1, &[b'z'; 16_000]));
    let mut trailers = Vec::new();
    hpack::encode_field(&mut trailers, "grpc-status", "0");
    m.extend(server_frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &trailers,
    ));
    // Stream 3: the head with END_STREAM, an indexed status from the
    // dynamic table's neighbour (the `server` entry it added is not status).
    m.extend(server_frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        3,
        &[0x88, 0x80 | 62],
    ));
    // Stream 5: window updates, then reset.
    m.extend(server_frame(frame::WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]));
    m.extend(server_frame(frame::WINDOW_UPDATE, 0, 5, &[0, 0, 1, 0]));
    m.extend(server_frame(frame::RST_STREAM, 0, 5, &[0, 0, 0, 7]));
    // Late frames on a stream already ended: read past.
    m.extend(server_frame(frame::DATA, frame::END_STREAM, 3, b"late"));
    m
}

#[test]
fn a_rich_response_reads_as_the_server_meant() {
    let (mut conn, _) = three_streams();
    conn.feed(&rich_response());
    let ended: Vec<_> = conn.done.iter().map(|d| (d.tag, d.result)).collect();
    assert_eq!(
        ended,
        [(1, Ok(404)), (3, Ok(200)), (5, Err(ErrorKind::StreamReset))]
    );
    assert_eq!(conn.dead, None);
    assert_eq!(conn.peer_window, 0x10_0000);
    assert_eq!(conn.peer_max_frame, 0x4000);
    let mut out = Vec::new();
    conn.write_control(&mut out);
    let mut expected = server_frame(frame::SETTINGS, frame::ACK, 0, b"");
    expected.extend(server_frame(frame::PING, frame::ACK, 0, b"12345678"));
    assert_eq!(out, expected);
}

#[test]
fn responses_split_at_every_byte_boundary_read_the_same() {
    let message = rich_response();
    let (mut whole, _) = three_streams();
    whole.feed(&message);
    let expected = outcome(&whole);
    for cut in 0..=message.len() {
        let (mut conn, _) = three_streams();
        conn.feed(&message[..cut]);
        conn.feed(&message[cut..]);
        assert_eq!(outcome(&conn), expected, "cut at {cut}");
    }
    let (mut bytewise, _) = three_streams();
    for b in &message {
        bytewise.feed(std::slice::from_ref(b));
    }
    assert_eq!(outcome(&bytewise), expected);
}

#[test]
fn a_large_response_opens_the_stream_window_once_half_is_used() {
    let mut conn = Conn::default();
    let mut out = Vec::new();
    conn.open(1u32, &request(), b"", &mut out);
    conn.feed(&server_frame(
        frame::HEADERS,
        frame::END_HEADERS,
        1,
        &head_block(200),
    ));
    let frames = (STREAM_WINDOW as usize / 2) / 16_000 + 1;
    let data = server_frame(frame::DATA, 0, 1, &[0; 16_000]);
    for _ in 0..frames {
        conn.feed(&data);
    }
    let mut control = Vec::new();
    conn.write_control(&mut control);
    let used = (frames * 16_000) as u32;
    let mut expected = Vec::new();
    frame::window_update(&mut expected, 1, used);
    assert_eq!(control, expected, "one WINDOW_UPDATE for the stream");
    conn.feed(&server_frame(frame::DATA, frame::END_STREAM, 1, b""));
    let done = conn.done.pop_front().unwrap();
    assert_eq!(done.result, Ok(200));
    assert!(done.io.received > u64::from(used));
}

#[test]
fn a_body_beyond_the_windows_waits_for_window_updates() {
    let body = vec![7u8; 100_000];
    let mut conn = Conn::default();
    let mut out = Vec::new();
    conn.open(1u32, &request(), &body, &mut out);
    let data_bytes = |out: &[u8]| -> usize {
        let mut at = if out.starts_with(frame::PREFACE) {
            24
        } else {
            0
        };
        let mut n = 0;
        while at < out.len() {
            let h = Head::parse(out[at..at + HEAD].try_into().unwrap());
            if h.kind == frame::DATA {
                n += h.len;
            }
            at += HEAD + h.len;
        }
        n
    };
    assert_eq!(data_bytes(&out), 65_535, "the default windows");
    // The server raises the stream window by SETTINGS, the connection's by
    // WINDOW_UPDATE.
    conn.feed(&server_frame(frame::SETTINGS, 0, 0, &[0, 4, 0, 0x10, 0, 0]));
    let mut more = Vec::new();
    conn.send_bodies(&mut more, |_| &body);
    assert_eq!(data_bytes(&more), 0, "the connection window is still shut");
    conn.feed(&server_frame(frame::WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    more.clear();
    conn.send_bodies(&mut more, |_| &body);
    assert_eq!(data_bytes(&more), 100_000 - 65_535);
    assert_eq!(conn.streams[0].body_sent, 100_000);
    conn.feed(&server_frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &[0x88],
    ));
    let done = conn.done.pop_front().unwrap();
    assert_eq!(done.result, Ok(200));
    assert_eq!(
        done.io.sent as usize,
        // 65,535 in 4 frames first, then 34,465 in 3.
        HEAD + request().len() + 100_000 + HEAD * 7
    );
}

#[test]
fn goaway_refuses_streams_above_its_last_and_the_close_ends_the_rest() {
    for (code, at_close) in [(frame::NO_ERROR, ErrorKind::Io), (2, ErrorKind::Goaway)] {
        let (mut conn, _) = three_streams();
        let mut payload = 1u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        conn.feed(&server_frame(frame::GOAWAY, 0, 0, &payload));
        let ended: Vec<_> = conn.done.drain(..).map(|d| (d.tag, d.result)).collect();
        assert_eq!(
            ended,
            [(3, Err(ErrorKind::Goaway)), (5, Err(ErrorKind::Goaway))]
        );
        assert!(conn.is_gone() && !conn.can_open());
        conn.closed();
        let ended: Vec<_> = conn.done.drain(..).map(|d| (d.tag, d.result)).collect();
        assert_eq!(ended, [(1, Err(at_close))]);
    }
}

#[test]
fn connection_errors_end_every_stream_as_http2_protocol_with_our_goaway() {
    let mut bad_hpack = head_block(200);
    bad_hpack[0] = 0x80 | 63;
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        (
            "PING of 7",
            server_frame(frame::PING, 0, 0, &[0; 7]),
            frame::FRAME_SIZE_ERROR,
        ),
        (
            "PING on a stream",
            server_frame(frame::PING, 0, 1, &[0; 8]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "PUSH_PROMISE",
            server_frame(frame::PUSH_PROMISE, 4, 1, &[0, 0, 0, 2]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "DATA on 0",
            server_frame(frame::DATA, 0, 0, b"x"),
            frame::PROTOCOL_ERROR,
        ),
        (
            "too large",
            server_frame(frame::DATA, 0, 1, &[0; 16_385]),
            frame::FRAME_SIZE_ERROR,
        ),
        (
            "CONTINUATION alone",
            server_frame(frame::CONTINUATION, 4, 1, &[0x88]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "HEADERS on an idle stream",
            server_frame(frame::HEADERS, 4, 9, &[0x88]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "bad HPACK",
            server_frame(frame::HEADERS, 4, 1, &bad_hpack),
            frame::COMPRESSION_ERROR,
        ),
        (
            "SETTINGS of 5",
            server_frame(frame::SETTINGS, 0, 0, &[0; 5]),
            frame::FRAME_SIZE_ERROR,
        ),
        (
            "push enabled",
            server_frame(frame::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 1]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "window overflow",
            server_frame(frame::WINDOW_UPDATE, 0, 0, &[0x7f, 0xff, 0xff, 0xff]),
            frame::FLOW_CONTROL_ERROR,
        ),
        (
            "padding too long",
            server_frame(frame::DATA, frame::PADDED, 1, &[5, 0, 0]),
            frame::PROTOCOL_ERROR,
        ),
        (
            "RST on 0",
            server_frame(frame::RST_STREAM, 0, 0, &[0; 4]),
            frame::PROTOCOL_ERROR,
        ),
    ];
    for (what, bytes, code) in cases {
        let (mut conn, _) = three_streams();
        conn.feed(&bytes);
        let ended: Vec<_> = conn.done.iter().map(|d| d.result).collect();
        assert_eq!(ended, [Err(ErrorKind::Http2Protocol); 3], "{what}");
        assert_eq!(conn.dead, Some(ErrorKind::Http2Protocol), "{what}");
        let mut out = Vec::new();
        conn.write_control(&mut out);
        let mut goaway = Vec::new();
        frame::goaway(&mut goaway, 0, code);
        assert_eq!(out, goaway, "{what}");
    }
}

#[test]
fn a_malformed_response_resets_its_stream_only() {
    let (mut conn, _) = three_streams();
    // DATA before any head; a head without :status.
    conn.feed(&server_frame(frame::DATA, 0, 1, b"x"));
    conn.feed(&server_frame(
        frame::HEADERS,
        frame::END_HEADERS,
        3,
        &[0x80 | 28],
    ));
    let ended: Vec<_> = conn.done.iter().map(|d| (d.tag, d.result)).collect();
    assert_eq!(
        ended,
        [
            (1, Err(ErrorKind::Http2Protocol)),
            (3, Err(ErrorKind::Http2Protocol))
        ]
    );
    assert_eq!(conn.dead, None);
    assert!(conn.can_open());
}

#[test]
fn streams_refused_for_a_limit_not_known_yet_are_sent_again() {
    let (mut conn, _) = three_streams();
    conn.feed(&server_frame(frame::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 1]));
    conn.feed(&server_frame(frame::RST_STREAM, 0, 3, &[0, 0, 0, 7]));
    conn.feed(&server_frame(frame::RST_STREAM, 0, 5, &[0, 0, 0, 7]));
    assert_eq!(conn.retry, [3, 5]);
    assert!(conn.done.is_empty());
    assert!(!conn.can_open(), "one stream open, the server's limit");
    conn.feed(&server_frame(frame::HEADERS, 5, 1, &[0x88]));
    assert!(conn.can_open());
    // A stream opened knowing the limit: REFUSED_STREAM is the server's word.
    let mut out = Vec::new();
    conn.open(7, &request(), b"", &mut out);
    conn.feed(&server_frame(frame::RST_STREAM, 0, 7, &[0, 0, 0, 7]));
    let ended: Vec<_> = conn.done.iter().map(|d| (d.tag, d.result)).collect();
    assert_eq!(ended, [(1, Ok(200)), (7, Err(ErrorKind::StreamReset))]);
}
