//! HPACK's Huffman code (RFC 7541 Appendix B), decoded four bits at a time.
//!
//! The decoder is a state machine over the code's tree: a state is an internal
//! node (256 of them for 257 symbols), and one table lookup per nibble gives the
//! next state and the symbol completed on the way, if any (every code is at
//! least 5 bits long, so a nibble completes at most one). The table (256 x 16
//! entries, 16 KiB) is built at compile time from the code itself, so there is
//! nothing to get out of step and nothing to build at run time.

/// Bit length and code of each symbol; symbol 256 is EOS (RFC 7541 Appendix B).
#[rustfmt::skip]
const CODES: [(u8, u32); 257] = [
    (13, 0x1ff8), (23, 0x7fffd8), (28, 0xfffffe2), (28, 0xfffffe3), (28, 0xfffffe4), (28, 0xfffffe5),
    (28, 0xfffffe6), (28, 0xfffffe7), (28, 0xfffffe8), (24, 0xffffea), (30, 0x3ffffffc), (28, 0xfffffe9),
    (28, 0xfffffea), (30, 0x3ffffffd), (28, 0xfffffeb), (28, 0xfffffec), (28, 0xfffffed), (28, 0xfffffee),
    (28, 0xfffffef), (28, 0xffffff0), (28, 0xffffff1), (28, 0xffffff2), (30, 0x3ffffffe), (28, 0xffffff3),
    (28, 0xffffff4), (28, 0xffffff5), (28, 0xffffff6), (28, 0xffffff7), (28, 0xffffff8), (28, 0xffffff9),
    (28, 0xffffffa), (28, 0xffffffb), (6, 0x14), (10, 0x3f8), (10, 0x3f9), (12, 0xffa),
    (13, 0x1ff9), (6, 0x15), (8, 0xf8), (11, 0x7fa), (10, 0x3fa), (10, 0x3fb),
    (8, 0xf9), (11, 0x7fb), (8, 0xfa), (6, 0x16), (6, 0x17), (6, 0x18),
    (5, 0x0), (5, 0x1), (5, 0x2), (6, 0x19), (6, 0x1a), (6, 0x1b),
    (6, 0x1c), (6, 0x1d), (6, 0x1e), (6, 0x1f), (7, 0x5c), (8, 0xfb),
    (15, 0x7ffc), (6, 0x20), (12, 0xffb), (10, 0x3fc), (13, 0x1ffa), (6, 0x21),
    (7, 0x5d), (7, 0x5e), (7, 0x5f), (7, 0x60), (7, 0x61), (7, 0x62),
    (7, 0x63), (7, 0x64), (7, 0x65), (7, 0x66), (7, 0x67), (7, 0x68),
    (7, 0x69), (7, 0x6a), (7, 0x6b), (7, 0x6c), (7, 0x6d), (7, 0x6e),
    (7, 0x6f), (7, 0x70), (7, 0x71), (7, 0x72), (8, 0xfc), (7, 0x73),
    (8, 0xfd), (13, 0x1ffb), (19, 0x7fff0), (13, 0x1ffc), (14, 0x3ffc), (6, 0x22),
    (15, 0x7ffd), (5, 0x3), (6, 0x23), (5, 0x4), (6, 0x24), (5, 0x5),
    (6, 0x25), (6, 0x26), (6, 0x27), (5, 0x6), (7, 0x74), (7, 0x75),
    (6, 0x28), (6, 0x29), (6, 0x2a), (5, 0x7), (6, 0x2b), (7, 0x76),
    (6, 0x2c), (5, 0x8), (5, 0x9), (6, 0x2d), (7, 0x77), (7, 0x78),
    (7, 0x79), (7, 0x7a), (7, 0x7b), (15, 0x7ffe), (11, 0x7fc), (14, 0x3ffd),
    (13, 0x1ffd), (28, 0xffffffc), (20, 0xfffe6), (22, 0x3fffd2), (20, 0xfffe7), (20, 0xfffe8),
    (22, 0x3fffd3), (22, 0x3fffd4), (22, 0x3fffd5), (23, 0x7fffd9), (22, 0x3fffd6), (23, 0x7fffda),
    (23, 0x7fffdb), (23, 0x7fffdc), (23, 0x7fffdd), (23, 0x7fffde), (24, 0xffffeb), (23, 0x7fffdf),
    (24, 0xffffec), (24, 0xffffed), (22, 0x3fffd7), (23, 0x7fffe0), (24, 0xffffee), (23, 0x7fffe1),
    (23, 0x7fffe2), (23, 0x7fffe3), (23, 0x7fffe4), (21, 0x1fffdc), (22, 0x3fffd8), (23, 0x7fffe5),
    (22, 0x3fffd9), (23, 0x7fffe6), (23, 0x7fffe7), (24, 0xffffef), (22, 0x3fffda), (21, 0x1fffdd),
    (20, 0xfffe9), (22, 0x3fffdb), (22, 0x3fffdc), (23, 0x7fffe8), (23, 0x7fffe9), (21, 0x1fffde),
    (23, 0x7fffea), (22, 0x3fffdd), (22, 0x3fffde), (24, 0xfffff0), (21, 0x1fffdf), (22, 0x3fffdf),
    (23, 0x7fffeb), (23, 0x7fffec), (21, 0x1fffe0), (21, 0x1fffe1), (22, 0x3fffe0), (21, 0x1fffe2),
    (23, 0x7fffed), (22, 0x3fffe1), (23, 0x7fffee), (23, 0x7fffef), (20, 0xfffea), (22, 0x3fffe2),
    (22, 0x3fffe3), (22, 0x3fffe4), (23, 0x7ffff0), (22, 0x3fffe5), (22, 0x3fffe6), (23, 0x7ffff1),
    (26, 0x3ffffe0), (26, 0x3ffffe1), (20, 0xfffeb), (19, 0x7fff1), (22, 0x3fffe7), (23, 0x7ffff2),
    (22, 0x3fffe8), (25, 0x1ffffec), (26, 0x3ffffe2), (26, 0x3ffffe3), (26, 0x3ffffe4), (27, 0x7ffffde),
    (27, 0x7ffffdf), (26, 0x3ffffe5), (24, 0xfffff1), (25, 0x1ffffed), (19, 0x7fff2), (21, 0x1fffe3),
    (26, 0x3ffffe6), (27, 0x7ffffe0), (27, 0x7ffffe1), (26, 0x3ffffe7), (27, 0x7ffffe2), (24, 0xfffff2),
    (21, 0x1fffe4), (21, 0x1fffe5), (26, 0x3ffffe8), (26, 0x3ffffe9), (28, 0xffffffd), (27, 0x7ffffe3),
    (27, 0x7ffffe4), (27, 0x7ffffe5), (20, 0xfffec), (24, 0xfffff3), (20, 0xfffed), (21, 0x1fffe6),
    (22, 0x3fffe9), (21, 0x1fffe7), (21, 0x1fffe8), (23, 0x7ffff3), (22, 0x3fffea), (22, 0x3fffeb),
    (25, 0x1ffffee), (25, 0x1ffffef), (24, 0xfffff4), (24, 0xfffff5), (26, 0x3ffffea), (23, 0x7ffff4),
    (26, 0x3ffffeb), (27, 0x7ffffe6), (26, 0x3ffffec), (26, 0x3ffffed), (27, 0x7ffffe7), (27, 0x7ffffe8),
    (27, 0x7ffffe9), (27, 0x7ffffea), (27, 0x7ffffeb), (28, 0xffffffe), (27, 0x7ffffec), (27, 0x7ffffed),
    (27, 0x7ffffee), (27, 0x7ffffef), (27, 0x7fffff0), (26, 0x3ffffee), (30, 0x3fffffff),
];

/// Internal nodes of the code's tree (a full binary tree with 257 leaves).
const NODES: usize = 256;
/// A child that is a leaf: the symbol in the low 9 bits.
const LEAF: u16 = 0x8000;
/// No child (only in nodes the tree does not use).
const EMPTY: u16 = 0xffff;

/// The entry's nibble completed a symbol: it is in bits 8..16.
const EMIT: u32 = 1 << 16;
/// The nibble is not part of any valid string (EOS, or a node the tree lacks).
const FAIL: u32 = 1 << 17;
/// The string may end in the entry's next state: at a symbol boundary, or in
/// padding (at most 7 bits, all ones: a prefix of EOS).
const ACCEPT: u32 = 1 << 18;

/// The code's tree: `tree[node][bit]` is a child node or `LEAF | symbol`.
const fn tree() -> [[u16; 2]; NODES] {
    let mut t = [[EMPTY; 2]; NODES];
    let mut count = 1;
    let mut s = 0;
    while s < CODES.len() {
        let (len, code) = CODES[s];
        let mut node = 0;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if t[node][bit] == EMPTY {
                t[node][bit] = count as u16;
                count += 1;
            }
            node = t[node][bit] as usize;
        }
        t[node][(code & 1) as usize] = LEAF | s as u16;
        s += 1;
    }
    t
}

/// `DECODE[state][nibble]`: next state (bits 0..8), symbol (8..16) and flags.
const fn decode_table() -> [[u32; 16]; NODES] {
    let t = tree();
    // Where a string may end: the root, or up to 7 one-bits into EOS's path.
    let mut accept = [false; NODES];
    accept[0] = true;
    let mut node = 0;
    let mut depth = 0;
    while depth < 7 {
        node = t[node][1] as usize;
        accept[node] = true;
        depth += 1;
    }
    let mut table = [[FAIL; 16]; NODES];
    let mut state = 0;
    while state < NODES {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut entry = 0u32;
            let mut fail = false;
            let mut k = 0;
            while k < 4 {
                let bit = (nibble >> (3 - k)) & 1;
                let child = t[node][bit];
                if child == EMPTY {
                    fail = true;
                    break;
                }
                if child & LEAF != 0 {
                    let symbol = (child & 0x1ff) as u32;
                    if symbol == 256 {
                        fail = true;
                        break;
                    }
                    entry |= EMIT | (symbol << 8);
                    node = 0;
                } else {
                    node = child as usize;
                }
                k += 1;
            }
            if !fail {
                table[state][nibble] = entry | node as u32 | if accept[node] { ACCEPT } else { 0 };
            }
            nibble += 1;
        }
        state += 1;
    }
    table
}

static DECODE: [[u32; 16]; NODES] = decode_table();

/// A Huffman string that is not valid: it holds EOS, or ends in padding that
/// is longer than 7 bits or not all ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadHuffman;

/// Decodes `src`, handing each byte to `emit`.
pub(crate) fn decode(src: &[u8], mut emit: impl FnMut(u8)) -> Result<(), BadHuffman> {
    let mut state = 0u8;
    let mut accept = true;
    for &b in src {
        for nibble in [b >> 4, b & 0xf] {
            let e = DECODE[usize::from(state)][usize::from(nibble & 0xf)];
            if e & FAIL != 0 {
                return Err(BadHuffman);
            }
            if e & EMIT != 0 {
                emit((e >> 8) as u8);
            }
            state = e as u8;
            accept = e & ACCEPT != 0;
        }
    }
    if accept {
        Ok(())
    } else {
        Err(BadHuffman)
    }
}

/// Decodes `src`, appending the bytes to `out`: the output written by index
/// into room made first (a code is at least 5 bits, so `src` decodes to at
/// most 8/5 of its length), not pushed byte by byte.
pub(crate) fn decode_into(src: &[u8], out: &mut Vec<u8>) -> Result<(), BadHuffman> {
    let start = out.len();
    out.resize(start + src.len() * 8 / 5 + 1, 0);
    let room = &mut out[start..];
    let mut n = 0;
    let mut state = 0u8;
    let mut accept = true;
    for &b in src {
        for nibble in [b >> 4, b & 0xf] {
            let e = DECODE[usize::from(state)][usize::from(nibble & 0xf)];
            if e & FAIL != 0 {
                out.truncate(start);
                return Err(BadHuffman);
            }
            if e & EMIT != 0 {
                if let Some(slot) = room.get_mut(n) {
                    *slot = (e >> 8) as u8;
                }
                n += 1;
            }
            state = e as u8;
            accept = e & ACCEPT != 0;
        }
    }
    out.truncate(start + n);
    if accept {
        Ok(())
    } else {
        Err(BadHuffman)
    }
}

/// Encodes `src` (tests, the fuzz targets: myriad's own header blocks are
/// literals without Huffman coding).
#[cfg(test)]
pub(crate) fn encode(src: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (len, code) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        // Padded with the most significant bits of EOS: ones.
        out.push(((acc << (8 - bits)) | ((1u64 << (8 - bits)) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &[u8]) -> Result<Vec<u8>, BadHuffman> {
        let mut out = Vec::new();
        decode(src, |b| out.push(b))?;
        Ok(out)
    }

    #[test]
    fn rfc_7541_appendix_c4_strings_decode() {
        let cases: [(&[u8], &[u8]); 4] = [
            (
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ],
                b"www.example.com",
            ),
            (&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], b"no-cache"),
            (
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f],
                b"custom-key",
            ),
            (
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf],
                b"custom-value",
            ),
        ];
        for (code, text) in cases {
            assert_eq!(decoded(code).unwrap(), text);
            let mut again = Vec::new();
            encode(text, &mut again);
            assert_eq!(again, code);
        }
    }

    #[test]
    fn every_byte_round_trips_alone_and_together() {
        let all: Vec<u8> = (0..=255).collect();
        for b in &all {
            let mut code = Vec::new();
            encode(&[*b], &mut code);
            assert_eq!(decoded(&code).unwrap(), [*b]);
        }
        let mut code = Vec::new();
        encode(&all, &mut code);
        assert_eq!(decoded(&code).unwrap(), all);
        let mut into = b"kept".to_vec();
        decode_into(&code, &mut into).unwrap();
        assert_eq!(&into[..4], b"kept");
        assert_eq!(&into[4..], &all[..]);
        // The densest input: 5-bit codes only ('0' is 00000).
        let zeros = vec![b'0'; 1000];
        code.clear();
        encode(&zeros, &mut code);
        let mut into = Vec::new();
        decode_into(&code, &mut into).unwrap();
        assert_eq!(into, zeros);
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // A whole byte of padding (8 ones) is more than 7 bits.
        let mut code = Vec::new();
        encode(b"a", &mut code); // 'a' is 5 bits: 00011, then 111 of padding
        assert_eq!(code, [0x1f]);
        code.push(0xff);
        assert_eq!(decoded(&code), Err(BadHuffman));
        // Padding that is not ones: 'a' then 000.
        assert_eq!(decoded(&[0x18]), Err(BadHuffman));
        // EOS itself (30 ones), padded to 32 bits.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(BadHuffman));
    }
}
