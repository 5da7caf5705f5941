//! Feeds arbitrary bytes to the frame decoder the way a stream reader
//! would, and checks that every frame it accepts survives a canonical
//! re-encode unchanged.

#![no_main]

use drc_protocol::message::Msg;
use drc_protocol::wire::{decode, decode_exact, Frame, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut frame = Frame::new();
    let mut again = Frame::new();
    let mut out = Vec::new();

    let mut pos = 0;
    loop {
        let rest = &data[pos..];
        match decode(rest, &mut frame) {
            Ok(n) => {
                assert!(n > 0 && n <= rest.len() && rest[n - 1] == b'>');
                out.clear();
                let len = frame.encode(&mut out).expect("decoded frame re-encodes");
                assert!(len <= MAX_FRAME && len == out.len());
                decode_exact(&out, &mut again).expect("re-encoded frame decodes");
                assert_eq!(frame, again);
                // Typed parsing either fails cleanly or re-encodes to the frame.
                if let Ok(msg) = Msg::parse(&frame) {
                    let mut typed = Vec::new();
                    if msg.encode(&mut typed).is_ok() {
                        decode_exact(&typed, &mut again).expect("typed re-encode decodes");
                        assert_eq!(Msg::parse(&again).ok(), Some(msg));
                    }
                }
                pos += n;
            }
            Err(e) => {
                assert!(e.offset <= rest.len());
                assert_eq!(frame, Frame::new());
                break;
            }
        }
    }

    if decode_exact(data, &mut frame).is_ok() {
        out.clear();
        frame.encode(&mut out).expect("decoded frame re-encodes");
        decode_exact(&out, &mut again).expect("re-encoded frame decodes");
        assert_eq!(frame, again);
    }

    // The flood's fast path reads a BCAST only where the general path reads
    // the same message.
    if let Some(msg) = Msg::parse_plain_bcast(data) {
        decode_exact(data, &mut frame).expect("a plain BCAST decodes");
        assert_eq!(Msg::parse(&frame).ok(), Some(msg));
    }
});
