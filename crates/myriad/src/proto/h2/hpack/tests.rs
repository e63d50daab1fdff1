//! The decoder against RFC 7541 Appendix C, and blocks it must refuse.

use super::*;

/// Bytes from the RFC's hex dumps ("8286 8441 ...").
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn fields(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
    let mut sink = Collect::default();
    d.walk(block, &mut sink).unwrap();
    sink.fields
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    (0..d.len())
        .map(|i| {
            let (n, v) = d.dynamic(i).unwrap();
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn c1_integers() {
    let mut out = Vec::new();
    encode_int(&mut out, 0, 5, 10);
    assert_eq!(out, [0x0a]);
    out.clear();
    encode_int(&mut out, 0, 5, 1337);
    assert_eq!(out, [0x1f, 0x9a, 0x0a]);
    let mut at = 0;
    assert_eq!(decode_int(&out, &mut at, 5), Ok(1337));
    assert_eq!(at, 3);
    out.clear();
    encode_int(&mut out, 0, 8, 42);
    assert_eq!(out, [0x2a]);
}

const REQ1: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new();
    assert_eq!(fields(&mut d, &hex(blocks[0])), pairs(&REQ1));
    assert_eq!(d.size(), 57);
    assert_eq!(fields(&mut d, &hex(blocks[1])), pairs(&REQ2));
    assert_eq!(d.size(), 110);
    assert_eq!(fields(&mut d, &hex(blocks[2])), pairs(&REQ3));
    assert_eq!(d.size(), 164);
    assert_eq!(
        table(&d),
        pairs(&[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ])
    );
}

/// C.3: requests without Huffman coding.
#[test]
fn c3_requests() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

/// C.4: the same requests, Huffman-coded.
#[test]
fn c4_requests_with_huffman() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

pub(crate) const C5: [&str; 3] = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a
     3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
];

pub(crate) const C6: [&str; 3] = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

/// C.5 and C.6: responses with a 256-byte table, so entries are evicted.
fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::new();
    d.max = Some(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let location = "https://www.example.com";
    assert_eq!(
        fields(&mut d, &hex(blocks[0])),
        pairs(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_eq!(d.size(), 222);
    assert_eq!(
        fields(&mut d, &hex(blocks[1])),
        pairs(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_eq!(d.size(), 222);
    assert_eq!(
        table(&d),
        pairs(&[
            (":status", "307"),
            ("location", location),
            ("date", date1),
            ("cache-control", "private"),
        ])
    );
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    assert_eq!(
        fields(&mut d, &hex(blocks[2])),
        pairs(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", location),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ])
    );
    assert_eq!(d.size(), 215);
    assert_eq!(
        table(&d),
        pairs(&[
            ("set-cookie", cookie),
            ("content-encoding", "gzip"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ])
    );
}

#[test]
fn c5_responses() {
    responses(C5);
}

#[test]
fn c6_responses_with_huffman() {
    responses(C6);
}

#[test]
fn the_hot_path_finds_the_status_of_each_response() {
    for blocks in [C5, C6] {
        let mut d = Decoder::new();
        d.max = Some(256);
        let got: Vec<_> = blocks.iter().map(|b| d.decode(&hex(b)).unwrap()).collect();
        assert_eq!(got, [Some(302), Some(307), Some(200)]);
        assert_eq!(d.size(), 215);
    }
}

#[test]
fn status_from_every_representation() {
    let mut d = Decoder::new();
    // Indexed (static 13 is ":status 404").
    assert_eq!(d.decode(&[0x80 | 13]), Ok(Some(404)));
    // Without indexing, static name, plain value.
    assert_eq!(d.decode(&[0x08, 3, b'4', b'2', b'9']), Ok(Some(429)));
    // Never indexed, literal name, Huffman value.
    let mut block = vec![0x10, 7];
    block.extend_from_slice(b":status");
    let mut v = Vec::new();
    crate::proto::h2::huffman::encode(b"503", &mut v);
    block.push(0x80 | v.len() as u8);
    block.extend_from_slice(&v);
    assert_eq!(d.decode(&block), Ok(Some(503)));
    // Literal name, Huffman-coded too.
    let mut n = Vec::new();
    crate::proto::h2::huffman::encode(b":status", &mut n);
    let mut block = vec![0x00, 0x80 | n.len() as u8];
    block.extend_from_slice(&n);
    block.extend_from_slice(&[3, b'1', b'0', b'3']);
    assert_eq!(d.decode(&block), Ok(Some(103)));
    assert_eq!(d.len(), 0, "nothing of these was indexed");
    // No status at all (content-length: 2).
    assert_eq!(d.decode(&hex("0f0d 0132")), Ok(None));
}

#[test]
fn bad_blocks_are_refused() {
    let bad: [(&[u8], HpackError); 8] = [
        (&[0x80], HpackError::BadIndex(0)),
        (&[0x80 | 63], HpackError::BadIndex(63)),
        (&[0x41], HpackError::Truncated),
        (&[0x41, 0x05, b'a'], HpackError::Truncated),
        (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], HpackError::Overflow),
        (&[0x3f, 0xe2, 0x1f], HpackError::SizeUpdate), // 4096 + 1
        (&[0x82, 0x20], HpackError::SizeUpdate),       // not first
        (&[0x08, 0x02, b'2', b'0'], HpackError::Status),
    ];
    for (block, e) in bad {
        assert_eq!(Decoder::new().decode(block), Err(e), "{block:02x?}");
    }
    // A Huffman value with bad padding (a whole byte of ones), even when
    // the value is not needed.
    assert_eq!(
        Decoder::new().decode(&[0x0f, 0x0d, 0x82, 0x1f, 0xff]),
        Err(HpackError::Huffman)
    );
}

#[test]
fn size_updates_evict_and_the_table_keeps_in_step() {
    let mut d = Decoder::new();
    fields(&mut d, &hex(C5[0]));
    assert_eq!(d.len(), 4);
    // Size update to 100 at the start of a block: the oldest go.
    assert_eq!(d.decode(&[0x3f, 0x45, 0x88]), Ok(Some(200))); // 31 + 69 = 100
    assert_eq!(d.size(), 63);
    assert_eq!(table(&d), pairs(&[("location", "https://www.example.com")]));
    // To 0 and back: empty.
    assert_eq!(d.decode(&[0x20, 0x3f, 0xe1, 0x1f]), Ok(None));
    assert_eq!(d.len(), 0);
    assert_eq!(d.size(), 0);
    // An entry larger than the whole table empties it and is not added.
    let mut block = vec![0x40 | 54]; // server, 5000 bytes
    encode_int(&mut block, 0, 7, 5000);
    block.extend(std::iter::repeat_n(b'x', 5000));
    assert_eq!(d.decode(&block), Ok(None));
    assert_eq!(d.len(), 0);
}

#[test]
fn many_insertions_keep_the_store_bounded() {
    let mut d = Decoder::new();
    for i in 0..10_000u32 {
        let value = format!("value-{i}-{}", "v".repeat((i % 300) as usize));
        let mut block = vec![0x40 | 58]; // user-agent, incremental indexing
        encode_int(&mut block, 0, 7, value.len());
        block.extend_from_slice(value.as_bytes());
        block.push(0x80 | 62); // the entry just added
        d.decode(&block).unwrap();
        let (n, v) = d.dynamic(0).unwrap();
        assert_eq!((n, v), (&b"user-agent"[..], value.as_bytes()));
        assert!(d.size() <= TABLE_SIZE);
        assert!(d.store.len() <= 5 * TABLE_SIZE, "{}", d.store.len());
    }
}
