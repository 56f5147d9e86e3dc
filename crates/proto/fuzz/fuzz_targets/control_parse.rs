//! Control-message decoding: never panics, and whatever decodes encodes
//! back to a payload that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::control::ControlMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = ControlMessage::decode(data) {
        let mut buf = [0u8; proto::control::MAX_CONTROL_LEN];
        msg.encode(&mut buf)
            .expect("MAX_CONTROL_LEN fits every message");
        assert_eq!(ControlMessage::decode(&buf), Ok(msg));
    }
});
