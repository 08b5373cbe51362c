//! Serving gRPC clients that send a socket path as HTTP/2 `:authority`.
//!
//! On a Unix socket `:authority` names no host. grpc C-core since 1.57 (Python's `grpcio`, so
//! py-spiffe; also C++, Ruby, PHP), grpc-java and grpc-swift send the percent-encoded socket
//! path there, e.g. `tmp%2Fagent.sock`, which is not a valid authority (RFC 3986 §3.2). h2, the
//! HTTP/2 implementation under tonic, refuses such a request with `RST_STREAM(PROTOCOL_ERROR)`
//! and offers no switch to relax it (hyperium/h2#487). SPIRE (grpc-go) accepts these clients.
//!
//! [`H2AuthorityRewrite`] wraps the read side of a Unix connection and, in every complete
//! `HEADERS` frame, replaces the value of a literal `:authority` field (named by static-table
//! index 1, RFC 7541 Appendix A, or by a plain-text literal name as grpc C-core sends it; a
//! Huffman-coded literal name is not recognised) with `localhost`, keeping its
//! representation, so the HPACK dynamic table gets the same insertions in the same order.
//!
//! The new value is never longer than the old one: a table entry's size counts its value
//! (RFC 7541 §4.1), and were h2's copy larger than the client's, h2 would evict entries the
//! client still refers to by index (§4.4) and fail the connection. So a value shorter than
//! `localhost` (`n` bytes) becomes the first `n` bytes of `localhost`, and an empty value is
//! left alone (h2 refuses it, as it would without the rewrite). The rewrite needs no Huffman
//! decoding: the old value is skipped by its length and the new one is written as a plain
//! string; for a Huffman-coded old value of `L` bytes, `n` is the least it can decode to (each
//! byte takes at most 30 bits, RFC 7541 Appendix B, and padding is under 8 bits: `n >=
//! (8L - 7) / 30`, rounded up). Everything else is passed through byte for byte; anything that
//! does not parse as expected is passed through unchanged for h2 to judge.

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;

use tokio::io::{AsyncRead, ReadBuf};

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// Frame header length (RFC 9113 §4.1).
const FRAME_HEADER_LEN: usize = 9;
/// Frame type HEADERS and its flags (RFC 9113 §6.2).
const HEADERS: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// HEADERS frames longer than this pass through untouched (h2's default maximum frame size is
/// 16 KiB, so a conforming client never sends more; the bound keeps the buffer small).
const MAX_REWRITTEN_FRAME: usize = 64 * 1024;
/// The replacement value (or its first bytes, for shorter values).
const LOCALHOST: &[u8] = b"localhost";
/// The longest Huffman code, in bits (RFC 7541 Appendix B).
const MAX_HUFFMAN_CODE_BITS: usize = 30;

enum FrameState {
    /// Passing the connection preface through.
    Preface { remaining: usize },
    /// Waiting for a complete frame header.
    FrameHeader,
    /// Passing `remaining` payload bytes of a frame through.
    Payload { remaining: usize },
    /// Collecting a HEADERS frame of `len` payload bytes to rewrite.
    Headers {
        header: [u8; FRAME_HEADER_LEN],
        len: usize,
    },
}

/// A reader that rewrites `:authority` in HTTP/2 HEADERS frames (see the module docs).
pub(crate) struct H2AuthorityRewrite<R> {
    inner: R,
    state: FrameState,
    /// Bytes read from `inner`, not yet processed.
    input: Vec<u8>,
    /// Processed bytes not yet handed to the reader, from `output_pos`.
    output: Vec<u8>,
    output_pos: usize,
    eof: bool,
}

impl<R> H2AuthorityRewrite<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            state: FrameState::Preface {
                remaining: PREFACE_LEN,
            },
            input: Vec::new(),
            output: Vec::new(),
            output_pos: 0,
            eof: false,
        }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Moves as much of `input` to `output` as the state allows.
    fn process(&mut self) {
        loop {
            match self.state {
                FrameState::Preface { remaining } | FrameState::Payload { remaining } => {
                    let take = remaining.min(self.input.len());
                    if take == 0 && remaining > 0 {
                        return;
                    }
                    self.output.extend(self.input.drain(..take));
                    let left = remaining - take;
                    self.state = match (&self.state, left) {
                        (_, 0) => FrameState::FrameHeader,
                        (FrameState::Preface { .. }, _) => FrameState::Preface { remaining: left },
                        _ => FrameState::Payload { remaining: left },
                    };
                }
                FrameState::FrameHeader => {
                    let Some(bytes) = self.input.get(..FRAME_HEADER_LEN) else {
                        return;
                    };
                    let mut header = [0_u8; FRAME_HEADER_LEN];
                    header.copy_from_slice(bytes);
                    let len = usize::from(header[0]) << 16
                        | usize::from(header[1]) << 8
                        | usize::from(header[2]);
                    let (kind, flags) = (header[3], header[4]);
                    self.input.drain(..FRAME_HEADER_LEN);
                    if kind == HEADERS && flags & END_HEADERS != 0 && len <= MAX_REWRITTEN_FRAME {
                        self.state = FrameState::Headers { header, len };
                    } else {
                        self.output.extend_from_slice(&header);
                        self.state = FrameState::Payload { remaining: len };
                    }
                }
                FrameState::Headers { header, len } => {
                    let Some(payload) = self.input.get(..len) else {
                        return;
                    };
                    let flags = header[4];
                    let rewritten = rewrite_headers_payload(flags, payload);
                    let payload = rewritten.as_deref().unwrap_or(payload);
                    let mut header = header;
                    // The new payload is never longer than MAX_REWRITTEN_FRAME + the short
                    // replacement, so it fits the 24-bit length.
                    let new_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
                    let [_, b0, b1, b2] = new_len.to_be_bytes();
                    header[0] = b0;
                    header[1] = b1;
                    header[2] = b2;
                    self.output.extend_from_slice(&header);
                    self.output.extend_from_slice(payload);
                    self.input.drain(..len);
                    self.state = FrameState::FrameHeader;
                }
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for H2AuthorityRewrite<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(pending) = this.output.get(this.output_pos..) {
                if !pending.is_empty() {
                    let n = pending.len().min(buf.remaining());
                    buf.put_slice(pending.get(..n).unwrap_or_default());
                    this.output_pos += n;
                    if this.output_pos == this.output.len() {
                        this.output.clear();
                        this.output_pos = 0;
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            if this.eof {
                // Whatever is left (a truncated frame) goes through as is.
                if this.input.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.output.append(&mut this.input);
                continue;
            }
            let mut chunk = [0_u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
            } else {
                this.input.extend_from_slice(read.filled());
                this.process();
            }
        }
    }
}

/// The HEADERS payload with every literal `:authority` value replaced, or `None` when there is
/// nothing to change or the block does not parse.
fn rewrite_headers_payload(flags: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let mut rest = payload;
    let mut prefix: &[u8] = &[];
    let mut pad_len = 0;
    if flags & PADDED != 0 {
        let (&pad, after) = rest.split_first()?;
        pad_len = usize::from(pad);
        prefix = payload.get(..1)?;
        rest = after;
    }
    let fragment_end = rest.len().checked_sub(pad_len)?;
    let (mut fragment, padding) = rest.split_at_checked(fragment_end)?;
    let mut priority: &[u8] = &[];
    if flags & PRIORITY != 0 {
        (priority, fragment) = fragment.split_at_checked(5)?;
    }
    let block = rewrite_block(fragment)?;
    let mut out = Vec::with_capacity(payload.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(priority);
    out.extend_from_slice(&block);
    out.extend_from_slice(padding);
    Some(out)
}

/// The header block with literal `:authority` values replaced, or `None` if none was found or
/// the block is malformed.
fn rewrite_block(mut block: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(block.len());
    let mut changed = false;
    while let Some(&first) = block.first() {
        let start = block;
        if first & 0x80 != 0 {
            // Indexed field (RFC 7541 §6.1).
            (_, block) = integer(block, 7)?;
        } else if first & 0xe0 == 0x20 {
            // Dynamic table size update (§6.3).
            (_, block) = integer(block, 5)?;
        } else {
            // Literal with incremental indexing (01, 6-bit index) or without / never indexed
            // (000x, 4-bit index) (§6.2).
            let bits = if first & 0x40 != 0 { 6 } else { 4 };
            let (name_index, after_index) = integer(block, bits)?;
            let after_name = if name_index == 0 {
                skip_string(after_index)?
            } else {
                after_index
            };
            let after_value = skip_string(after_name)?;
            let is_authority = match name_index {
                1 => true,
                // A literal name, sent as plain text (grpc C-core does this).
                0 => after_index.get(..11) == Some(b"\x0a:authority"),
                _ => false,
            };
            if let Some(value) = is_authority.then(|| replacement(after_name)).flatten() {
                // `:authority`: keep the representation and the name, new value.
                let kept = start.len() - after_name.len();
                out.extend_from_slice(start.get(..kept)?);
                out.push(u8::try_from(value.len()).ok()?);
                out.extend_from_slice(value);
                changed = true;
                block = after_value;
                continue;
            }
            block = after_value;
        }
        let consumed = start.len() - block.len();
        out.extend_from_slice(start.get(..consumed)?);
    }
    changed.then_some(out)
}

/// The value that replaces the HPACK string literal `old` (§5.2): `localhost`, cut to the
/// least length `old` can decode to so that it is never longer (see the module docs);
/// `None` when `old` is empty or malformed.
fn replacement(old: &[u8]) -> Option<&'static [u8]> {
    let huffman = old.first()? & 0x80 != 0;
    let (encoded, _) = integer(old, 7)?;
    let encoded = usize::try_from(encoded).ok()?;
    let least = if huffman {
        encoded
            .checked_mul(8)?
            .checked_sub(7)?
            .div_ceil(MAX_HUFFMAN_CODE_BITS)
    } else {
        encoded
    };
    match LOCALHOST.get(..least.min(LOCALHOST.len()))? {
        [] => None,
        value => Some(value),
    }
}

/// Decodes an HPACK integer with an `bits`-bit prefix (RFC 7541 §5.1); returns it and the rest.
fn integer(input: &[u8], bits: u32) -> Option<(u64, &[u8])> {
    let (&first, mut rest) = input.split_first()?;
    let max = (1_u64 << bits) - 1;
    let mut value = u64::from(first) & max;
    if value < max {
        return Some((value, rest));
    }
    let mut shift = 0_u32;
    loop {
        let (&byte, after) = rest.split_first()?;
        rest = after;
        value = value.checked_add((u64::from(byte) & 0x7f).checked_shl(shift)?)?;
        if byte & 0x80 == 0 {
            return Some((value, rest));
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// Skips an HPACK string literal (§5.2); returns the rest.
fn skip_string(input: &[u8]) -> Option<&[u8]> {
    let (len, rest) = integer(input, 7)?;
    let len = usize::try_from(len).ok()?;
    rest.get(len..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A HEADERS frame for stream 1 carrying `block`.
    fn headers_frame(flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = vec![len[1], len[2], len[3], HEADERS, flags, 0, 0, 0, 1];
        frame.extend_from_slice(payload);
        frame
    }

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// `:method: POST` (indexed 3), `:authority` literal with incremental indexing and the
    /// value `tmp%2Fa.sock`, `:path` literal without indexing (index 4) `/S/M`.
    fn grpc_block(authority: &[u8]) -> Vec<u8> {
        let mut block = vec![0x83, 0x41, u8::try_from(authority.len()).unwrap()];
        block.extend_from_slice(authority);
        block.extend_from_slice(&[0x04, 0x04]);
        block.extend_from_slice(b"/S/M");
        block
    }

    async fn run(input: Vec<u8>) -> Vec<u8> {
        let mut reader = H2AuthorityRewrite::new(&input[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn replaces_a_socket_path_authority_and_keeps_the_rest() {
        let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        let data = [0, 0, 3, 0, 1, 0, 0, 0, 1, 7, 8, 9];
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(&settings);
        input.extend(headers_frame(END_HEADERS, &grpc_block(b"tmp%2Fa.sock")));
        input.extend_from_slice(&data);

        let mut expected = PREFACE.to_vec();
        expected.extend_from_slice(&settings);
        expected.extend(headers_frame(END_HEADERS, &grpc_block(LOCALHOST)));
        expected.extend_from_slice(&data);
        assert_eq!(run(input).await, expected);
    }

    #[tokio::test]
    async fn handles_padding_priority_and_byte_by_byte_delivery() {
        let flags = END_HEADERS | PADDED | PRIORITY;
        let payload = |block: Vec<u8>| {
            let mut p = vec![2, 0, 0, 0, 3, 16];
            p.extend(block);
            p.extend_from_slice(&[0, 0]);
            p
        };
        let mut input = PREFACE.to_vec();
        input.extend(headers_frame(
            flags,
            &payload(grpc_block(b"/long/socket/path.sock")),
        ));
        let mut expected = PREFACE.to_vec();
        expected.extend(headers_frame(flags, &payload(grpc_block(LOCALHOST))));

        // One byte per read.
        struct Trickle(Vec<u8>, usize);
        impl AsyncRead for Trickle {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if let Some(&b) = self.0.get(self.1) {
                    buf.put_slice(&[b]);
                    self.1 += 1;
                }
                Poll::Ready(Ok(()))
            }
        }
        let mut reader = H2AuthorityRewrite::new(Trickle(input, 0));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, expected);
    }

    #[tokio::test]
    async fn recognises_a_literal_authority_name() {
        // What grpc-python sends: literal with incremental indexing, new name ":authority".
        let block = |value: &[u8]| {
            let mut b = vec![0x40, 10];
            b.extend_from_slice(b":authority");
            b.push(u8::try_from(value.len()).unwrap());
            b.extend_from_slice(value);
            b.push(0x83);
            b
        };
        let mut input = PREFACE.to_vec();
        input.extend(headers_frame(END_HEADERS, &block(b"tmp%2Fx%2Fagent.sock")));
        let mut expected = PREFACE.to_vec();
        expected.extend(headers_frame(END_HEADERS, &block(LOCALHOST)));
        assert_eq!(run(input).await, expected);
    }

    #[tokio::test]
    async fn leaves_frames_without_a_literal_authority_alone() {
        let mut input = PREFACE.to_vec();
        // Indexed fields only, a continuation-split HEADERS frame, and a malformed block.
        input.extend(headers_frame(END_HEADERS, &[0x83, 0x86, 0xbe]));
        input.extend(headers_frame(0, &grpc_block(b"x%2Fy")));
        input.extend(headers_frame(END_HEADERS, &[0x41, 0x7f]));
        assert_eq!(run(input.clone()).await, input);
    }

    /// The new value is never longer than the old one, so h2's table entry is never larger
    /// than the client's: shorter values get a prefix of `localhost`, an empty one is kept.
    #[tokio::test]
    async fn never_lengthens_the_authority() {
        let frame = |block: Vec<u8>| {
            let mut input = PREFACE.to_vec();
            input.extend(headers_frame(END_HEADERS, &block));
            input
        };
        for (old, new) in [
            (&b"a"[..], &b"l"[..]),
            (b"a%2Fb", b"local"),
            (b"localhos", b"localhos"),
            (b"localhost", b"localhost"),
            (b"/tmp/agent.sock", b"localhost"),
        ] {
            assert_eq!(
                run(frame(grpc_block(old))).await,
                frame(grpc_block(new)),
                "{}",
                String::from_utf8_lossy(old)
            );
        }
        // Empty: left for h2 to refuse.
        let empty = frame(grpc_block(b""));
        assert_eq!(run(empty.clone()).await, empty);
    }

    /// A Huffman-coded value of `L` bytes decodes to at least `(8L - 7) / 30` bytes (rounded
    /// up): the replacement is a plain string no longer than that.
    #[tokio::test]
    async fn a_huffman_coded_authority_gets_its_least_decoded_length() {
        let block = |value: &[u8], huffman: bool| {
            let flag = if huffman { 0x80 } else { 0 };
            let mut b = vec![0x41, flag | u8::try_from(value.len()).unwrap()];
            b.extend_from_slice(value);
            b
        };
        for (encoded, least) in [(1, 1), (4, 1), (10, 3), (34, 9), (60, 9)] {
            let mut input = PREFACE.to_vec();
            input.extend(headers_frame(
                END_HEADERS,
                &block(&vec![0xaa; encoded], true),
            ));
            let mut expected = PREFACE.to_vec();
            expected.extend(headers_frame(
                END_HEADERS,
                &block(&LOCALHOST[..least], false),
            ));
            assert_eq!(run(input).await, expected, "{encoded} Huffman bytes");
        }
    }

    #[test]
    fn decodes_multi_byte_integers() {
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5), Some((1337, &[][..])));
        assert_eq!(integer(&[0x1f, 0x9a], 5), None);
        assert_eq!(
            integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 5),
            None
        );
    }
}
